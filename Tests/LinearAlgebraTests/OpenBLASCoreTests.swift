import XCTest
import LinearAlgebra
import CKernels

/// The choice of OpenBLAS core (a pure function of OpenBLAS's pick, the processor and the
/// environment), and the gemm check that guards a switch.
final class OpenBLASCoreTests: XCTestCase {
    // Processors as CPUID describes them.
    static let emeraldRapids = ProcessorFeatures(  // the KVM guest: family 6 model 207
        vendor: .intel, family: 6, model: 207, avx2: true, fma: true, avx512f: true, avx512bw: true,
        avx512dq: true, avx512vl: true, avx512bf16: true)
    static let skylakeServer = ProcessorFeatures(
        vendor: .intel, family: 6, model: 85, avx2: true, fma: true, avx512f: true, avx512bw: true,
        avx512dq: true, avx512vl: true)
    static let zen3 = ProcessorFeatures(vendor: .amd, family: 0x19, model: 1, avx2: true, fma: true)
    static let zen1 = ProcessorFeatures(vendor: .amd, family: 0x17, model: 1, avx2: true, fma: true)
    static let excavator = ProcessorFeatures(vendor: .amd, family: 0x15, model: 0x60, avx2: true, fma: true)
    static let intelHaswell = ProcessorFeatures(vendor: .intel, family: 6, model: 60, avx2: true, fma: true)
    static let avx512WithoutOSSupport = ProcessorFeatures(vendor: .intel, family: 6, model: 85, avx2: true, fma: true)
    static let oldIntel = ProcessorFeatures(vendor: .intel, family: 6, model: 42)
    static let arm = ProcessorFeatures(isX86_64: false, vendor: .other, family: 0, model: 0)
    static let otherVendor = ProcessorFeatures(vendor: .other, family: 6, model: 15, avx2: true, fma: true)

    func testBestCoreFollowsTheInstructionSets() {
        let table: [(ProcessorFeatures, String?, String)] = [
            (Self.emeraldRapids, "Cooperlake", "AVX-512 with BF16"),
            (Self.skylakeServer, "SkylakeX", "AVX-512 F/BW/DQ/VL"),
            (Self.zen3, "Zen", "AMD family 0x19, AVX2"),
            (Self.zen1, "Zen", "AMD family 0x17, AVX2"),
            (Self.excavator, nil, "AMD before Zen: OpenBLAS's own core stands"),
            (Self.intelHaswell, "Haswell", "Intel AVX2 + FMA"),
            (Self.avx512WithoutOSSupport, "Haswell", "AVX-512 the OS does not enable reads as absent"),
            (Self.oldIntel, nil, "no AVX2"),
            (Self.arm, nil, "not x86-64"),
            (Self.otherVendor, nil, "another vendor"),
        ]
        for (processor, best, why) in table {
            XCTAssertEqual(OpenBLASCore.best(for: processor), best, why)
        }
        var partial = Self.skylakeServer
        partial.avx512vl = false
        XCTAssertEqual(OpenBLASCore.best(for: partial), "Haswell", "SkylakeX needs all four AVX-512 subsets")
    }

    func testDecisionTable() {
        typealias Row = (core: String, processor: ProcessorFeatures, variable: String?, dynamic: Bool,
                         expected: OpenBLASCoreDecision, why: String)
        let table: [Row] = [
            ("Prescott", Self.emeraldRapids, nil, true, .force("Cooperlake"), "0.3.21's fallback on model 207"),
            ("SkylakeX", Self.emeraldRapids, nil, true, .force("Cooperlake"), "BF16 processor on the AVX-512 core"),
            ("Cooperlake", Self.emeraldRapids, nil, true, .keepOpenBLASChoice, "already the best"),
            ("SapphireRapids", Self.emeraldRapids, nil, true, .keepOpenBLASChoice, "same tier as Cooperlake"),
            ("Prescott", Self.emeraldRapids, "Haswell", true, .keepUserChoice("Haswell"), "user's OPENBLAS_CORETYPE wins"),
            ("Prescott", Self.emeraldRapids, "", true, .keepUserChoice(""), "set but empty is still the user's"),
            ("Prescott", Self.emeraldRapids, nil, false, .keepOpenBLASChoice, "a build without DYNAMIC_ARCH cannot switch"),
            ("SkylakeX", Self.skylakeServer, nil, true, .keepOpenBLASChoice, "SkylakeX hardware, right core"),
            ("Haswell", Self.skylakeServer, nil, true, .force("SkylakeX"), "AVX2 core on AVX-512 hardware"),
            ("Sandybridge", Self.skylakeServer, nil, true, .force("SkylakeX"), "AVX core on AVX-512 hardware"),
            ("Zen", Self.zen3, nil, true, .keepOpenBLASChoice, "Zen 3 on Zen"),
            ("Haswell", Self.zen3, nil, true, .keepOpenBLASChoice, "Haswell is Zen's tier"),
            ("Prescott", Self.zen3, nil, true, .force("Zen"), "Zen falling back to SSE3"),
            ("Excavator", Self.excavator, nil, true, .keepOpenBLASChoice, "no opinion before Zen"),
            ("Prescott", Self.oldIntel, nil, true, .keepOpenBLASChoice, "nothing better to choose"),
            ("armv8", Self.arm, nil, true, .keepOpenBLASChoice, "other architectures unchanged"),
            ("NeoverseN1", Self.arm, "NeoverseN1", true, .keepUserChoice("NeoverseN1"), "other architectures unchanged"),
            ("FutureLake", Self.emeraldRapids, nil, true, .keepOpenBLASChoice, "a core newer than the table is kept"),
            ("prescott", Self.zen3, nil, true, .force("Zen"), "names compare without case"),
        ]
        for row in table {
            XCTAssertEqual(OpenBLASCore.decision(openBLASCore: row.core, processor: row.processor, coreTypeVariable: row.variable,
                                                 dynamicArchitecture: row.dynamic), row.expected, row.why)
        }
        // The test hook's best core: a name the table does not know counts as newer than all.
        XCTAssertEqual(OpenBLASCore.decision(openBLASCore: "Prescott", best: "NoSuchCore", coreTypeVariable: nil, dynamicArchitecture: true),
                       .force("NoSuchCore"))
        XCTAssertEqual(OpenBLASCore.decision(openBLASCore: "Zen", best: nil, coreTypeVariable: nil, dynamicArchitecture: true),
                       .keepOpenBLASChoice)
    }

    func testNoteWhenTheUsersCoreIsNarrowerThanTheBest() {
        let table: [(variable: String?, best: String?, noted: Bool, why: String)] = [
            ("Haswell", "Cooperlake", true, "this environment's choice on an AVX-512 Zen 5"),
            ("haswell", "SkylakeX", true, "names compare without case"),
            ("Prescott", "Zen", true, "SSE3 on an AVX2 processor"),
            ("SkylakeX", "Cooperlake", true, "AVX-512 without BF16 on a BF16 processor"),
            ("Cooperlake", "Cooperlake", false, "the best itself"),
            ("SapphireRapids", "Cooperlake", false, "same tier"),
            ("Zen", "Haswell", false, "same tier, other vendor's name"),
            ("Cooperlake", "Zen", false, "wider than the best: the user's business (it would fail to load anyway)"),
            (nil, "Cooperlake", false, "unset"),
            ("", "Cooperlake", false, "set but empty"),
            ("NeoverseN1", "Cooperlake", false, "a name outside the table"),
            ("Haswell", nil, false, "no best core known"),
        ]
        for row in table {
            let note = OpenBLASCore.userChoiceNote(coreTypeVariable: row.variable, best: row.best)
            XCTAssertEqual(note != nil, row.noted, row.why)
            if let note, let variable = row.variable, let best = row.best {
                XCTAssertTrue(note.hasPrefix("OPENBLAS_CORETYPE=\(variable) is set"), note)
                XCTAssertTrue(note.contains("(\(best))"), note)
            }
        }
    }

    func testReportDescribesThisProcess() {
        let report = OpenBLASCore.report()
        XCTAssertFalse(report.core.isEmpty)
        XCTAssertTrue(report.configuration.hasPrefix("OpenBLAS"), report.configuration)
        XCTAssertGreaterThanOrEqual(report.threads, 1)
        XCTAssertFalse(report.bestCore.isEmpty)
        let processor = ProcessorFeatures.current
        if processor.isX86_64 {
            XCTAssertFalse(report.cpuModel.isEmpty, "x86-64 processors have a CPUID brand string")
            XCTAssertTrue(processor.vendor != .other || !processor.avx2, "Intel and AMD are named")
            XCTAssertFalse(processor.hasAVX512 && !processor.avx2, "AVX-512 implies AVX2")
            XCTAssertEqual(processor.avx2 && processor.fma, hf_avx2_fma_available() != 0, "the AVX2 kernels' own check agrees")
        }
        XCTAssertEqual(report.bestCore, OpenBLASCore.best(for: processor) ?? report.core)
    }

    func testGEMMCheckPassesOnThisBLAS() {
        XCTAssertEqual(GEMMCheck.run(), [])
    }

    func testGEMMCheckCatchesWrongKernels() {
        // One element off by 0.01: its scale (|alpha| sum |a b|, 129 products of uniform [-1, 1]
        // values) is about 24, so the error is about 4e-4 of it, 25 times Float's tolerance
        // (131 ulp = 1.6e-5).
        let offByOne: GEMMCheck.Kernel<Float> = { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            Float.gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            c[ldc + 1] += 0.01
        }
        XCTAssertEqual(GEMMCheck.check(Float.self, gemm: offByOne).count, 4)
        // Ignoring beta: every pair fails.
        let ignoresBeta: GEMMCheck.Kernel<Double> = { ta, tb, m, n, k, alpha, a, lda, b, ldb, _, c, ldc in
            Double.gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: 0, c: c, ldc: ldc)
        }
        XCTAssertEqual(GEMMCheck.check(Double.self, gemm: ignoresBeta).count, 4)
        // Writing into the padding of C (past column n).
        let overruns: GEMMCheck.Kernel<Double> = { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            Double.gemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            c[n] = 0
        }
        let overrun = GEMMCheck.check(Double.self, gemm: overruns)
        XCTAssertEqual(overrun.count, 4)
        XCTAssertTrue(overrun.allSatisfy { $0.worstError == .infinity })
    }
}
