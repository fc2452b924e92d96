#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CBLAS
import CKernels

/// The processor's maker, from CPUID leaf 0.
public enum ProcessorVendor: String, Codable, Sendable {
    case intel, amd, other
}

/// What the processor and the operating system support, as far as choosing BLAS kernels goes
/// (CPUID and XGETBV; see CKernels/cpu.c). A feature counts only when the OS also saves the
/// registers it needs, so AVX-512 on a kernel or hypervisor that does not enable ZMM state
/// reads as absent.
public struct ProcessorFeatures: Codable, Sendable, Equatable {
    public var isX86_64: Bool
    public var vendor: ProcessorVendor
    /// Display family (base + extended family): 6 for Intel's Core and Xeon lines, 0x17 for AMD
    /// Zen 1/2, 0x19 for Zen 3/4.
    public var family: Int
    /// Display model (base + extended model), e.g. 207 (0xCF) for Intel Emerald Rapids.
    public var model: Int
    public var avx2: Bool
    public var fma: Bool
    public var avx512f: Bool
    public var avx512bw: Bool
    public var avx512dq: Bool
    public var avx512vl: Bool
    public var avx512bf16: Bool
    /// The CPUID brand string, e.g. "AMD EPYC 7B13 64-Core Processor" (empty where unknown).
    public var brand: String

    public init(isX86_64: Bool = true, vendor: ProcessorVendor, family: Int, model: Int,
                avx2: Bool = false, fma: Bool = false, avx512f: Bool = false, avx512bw: Bool = false,
                avx512dq: Bool = false, avx512vl: Bool = false, avx512bf16: Bool = false, brand: String = "") {
        self.isX86_64 = isX86_64; self.vendor = vendor; self.family = family; self.model = model
        self.avx2 = avx2; self.fma = fma; self.avx512f = avx512f; self.avx512bw = avx512bw
        self.avx512dq = avx512dq; self.avx512vl = avx512vl; self.avx512bf16 = avx512bf16; self.brand = brand
    }

    /// The four AVX-512 subsets OpenBLAS's SkylakeX kernels use.
    public var hasAVX512: Bool { avx512f && avx512bw && avx512dq && avx512vl }

    /// This machine's processor (read once).
    public static let current: ProcessorFeatures = {
        var info = hf_cpu_info()
        hf_cpu_identify(&info)
        func string<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let vendorName = string(info.vendor)
        let vendor: ProcessorVendor = vendorName == "GenuineIntel" ? .intel : vendorName == "AuthenticAMD" ? .amd : .other
        return ProcessorFeatures(
            isX86_64: info.x86_64 != 0, vendor: vendor, family: Int(info.family), model: Int(info.model),
            avx2: info.avx2 != 0, fma: info.fma != 0, avx512f: info.avx512f != 0, avx512bw: info.avx512bw != 0,
            avx512dq: info.avx512dq != 0, avx512vl: info.avx512vl != 0, avx512bf16: info.avx512bf16 != 0,
            brand: string(info.brand).trimmingTrailingSpaces)
    }()
}

private extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// What to do about the core (kernel set) OpenBLAS picked at load time.
public enum OpenBLASCoreDecision: Equatable, Sendable {
    /// OPENBLAS_CORETYPE is set: the user's choice, kept as given.
    case keepUserChoice(String)
    /// OpenBLAS's own choice is kept: it is as good as the best core for this processor, or
    /// there is nothing better to choose (not x86-64, a build without DYNAMIC_ARCH, a core or
    /// processor this table does not know).
    case keepOpenBLASChoice
    /// OpenBLAS fell back to an older core than this processor supports: run with this one
    /// (by setting OPENBLAS_CORETYPE before OpenBLAS loads, that is, in a new process).
    case force(String)
}

/// The core (kernel set) of a DYNAMIC_ARCH OpenBLAS and the best one for this processor.
///
/// OpenBLAS picks its core from the CPUID family and model when it loads. A build older than
/// the processor does not know its model and falls back to an old core: Debian's 0.3.21 takes
/// Intel family 6 model 207 (Emerald Rapids) for Prescott (SSE3), 63 against 311 GFLOP/s of
/// sgemm with Cooperlake on that machine. The best core follows from the instruction sets
/// alone, so it can be chosen whatever the model number.
public enum OpenBLASCore {
    /// The environment variable through which OpenBLAS takes a forced core.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// AMD's first Zen family (Zen 1 and 2; 0x19 is Zen 3 and 4). Older AMD families have
    /// their own OpenBLAS cores, which are left alone.
    public static let firstZenFamily = 0x17

    /// x86-64 OpenBLAS cores by the widest instruction set their gemm kernels use, widest
    /// first (names as `openblas_get_corename` prints them; compared without case).
    static let coreTiers: [[String]] = [
        ["Cooperlake", "SapphireRapids"],  // AVX-512 with BF16
        ["SkylakeX"],                       // AVX-512 F/BW/DQ/VL
        ["Haswell", "Zen"],                 // AVX2 + FMA
        ["Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator", "Nehalem", "Dunnington",
         "Penryn", "Core2", "Atom", "Barcelona", "Bobcat", "Nano", "Opteron_SSE3", "Opteron", "Athlon",
         "Banias", "Prescott", "Northwood", "Coppermine", "Katmai"],  // SSE to AVX
    ]

    /// Rank of `core` in `coreTiers` (larger is wider), nil for a name the table does not have.
    static func rank(of core: String) -> Int? {
        let name = core.lowercased()
        for (tier, cores) in coreTiers.enumerated() where cores.contains(where: { $0.lowercased() == name }) {
            return coreTiers.count - tier
        }
        return nil
    }

    /// The best core for `processor`: AVX-512 with BF16 -> Cooperlake; AVX-512 F/BW/DQ/VL ->
    /// SkylakeX; AVX2 + FMA -> Zen on AMD Zen families, Haswell on Intel; nil otherwise (other
    /// architectures and vendors, older processors: OpenBLAS's choice stands).
    public static func best(for processor: ProcessorFeatures) -> String? {
        guard processor.isX86_64 else { return nil }
        if processor.hasAVX512 && processor.avx512bf16 { return "Cooperlake" }
        if processor.hasAVX512 { return "SkylakeX" }
        guard processor.avx2 && processor.fma else { return nil }
        switch processor.vendor {
        case .amd: return processor.family >= firstZenFamily ? "Zen" : nil
        case .intel: return "Haswell"
        case .other: return nil
        }
    }

    /// Whether to keep OpenBLAS's core or force `best`.
    ///
    /// - `openBLASCore`: the core OpenBLAS picked (`openblas_get_corename`).
    /// - `best`: the best core for the processor (`best(for:)`). A name outside the table is
    ///   taken as newer than every core in it (only a test hook gives one).
    /// - `coreTypeVariable`: OPENBLAS_CORETYPE as set in the environment (nil: unset). When set,
    ///   even to an empty string, it is the user's choice and wins.
    /// - `dynamicArchitecture`: whether the build has several cores (DYNAMIC_ARCH in
    ///   `openblas_get_config`); a single-core build cannot switch.
    ///
    /// Forces `best` only when OpenBLAS's core is a known core of a narrower tier.
    public static func decision(openBLASCore: String, best: String?, coreTypeVariable: String?,
                                dynamicArchitecture: Bool) -> OpenBLASCoreDecision {
        if let user = coreTypeVariable { return .keepUserChoice(user) }
        guard dynamicArchitecture, let best, let chosenRank = rank(of: openBLASCore) else { return .keepOpenBLASChoice }
        let bestRank = rank(of: best) ?? Int.max
        return chosenRank < bestRank ? .force(best) : .keepOpenBLASChoice
    }

    /// What to tell a user whose OPENBLAS_CORETYPE (kept as given) names a core of a narrower
    /// tier than `best`, the best core for this processor; nil when it is as wide, when it is
    /// unset or empty, or when either name is outside the table. Some environments export a
    /// core of their own choosing (OPENBLAS_CORETYPE=Haswell on an AVX-512 Zen 5 ran sgemm at
    /// 117 against Cooperlake's 210 GFLOP/s), and a training run should not lose that silently.
    public static func userChoiceNote(coreTypeVariable: String?, best: String?) -> String? {
        guard let user = coreTypeVariable, !user.isEmpty, let best,
              let userRank = rank(of: user), let bestRank = rank(of: best), userRank < bestRank else { return nil }
        return "\(OpenBLASCore.coreTypeVariable)=\(user) is set in the environment, a narrower OpenBLAS core than this processor's best (\(best)); "
            + "hf keeps it (unset \(OpenBLASCore.coreTypeVariable) to let hf choose; `hf bench` measures either)"
    }

    /// `decision(openBLASCore:best:coreTypeVariable:dynamicArchitecture:)` with the best core
    /// for `processor`.
    public static func decision(openBLASCore: String, processor: ProcessorFeatures, coreTypeVariable: String?,
                                dynamicArchitecture: Bool) -> OpenBLASCoreDecision {
        decision(openBLASCore: openBLASCore, best: best(for: processor), coreTypeVariable: coreTypeVariable,
                 dynamicArchitecture: dynamicArchitecture)
    }

    /// The core OpenBLAS runs with in this process, e.g. "Zen", "Prescott".
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "" }
    /// OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { openblas_get_config().map { String(cString: $0) } ?? "" }
    /// Whether this OpenBLAS carries several cores and honours OPENBLAS_CORETYPE.
    public static var isDynamicArchitecture: Bool { configuration.split(separator: " ").contains("DYNAMIC_ARCH") }
    /// OPENBLAS_CORETYPE in this process's environment (nil when unset).
    public static var coreTypeInEnvironment: String? { getenv(coreTypeVariable).map { String(cString: $0) } }

    /// This process's BLAS: the core in use, the build, the threads, and the best core for the processor.
    public static func report() -> BLASReport {
        let core = current
        let processor = ProcessorFeatures.current
        return BLASReport(core: core, configuration: configuration, threads: BLASThreads.current,
                          bestCore: best(for: processor) ?? core, cpuModel: processor.brand,
                          coreTypeVariable: coreTypeInEnvironment)
    }
}

/// What BLAS this process runs on (`OpenBLASCore.report()`).
public struct BLASReport: Codable, Sendable, Equatable {
    /// The core OpenBLAS runs with (`openblas_get_corename`).
    public var core: String
    /// OpenBLAS's build description (`openblas_get_config`).
    public var configuration: String
    /// OpenBLAS threads.
    public var threads: Int
    /// The best core for this processor (`OpenBLASCore.best(for:)`); OpenBLAS's own core where
    /// there is no better one to name.
    public var bestCore: String
    /// The processor's CPUID brand string (empty where unknown).
    public var cpuModel: String
    /// OPENBLAS_CORETYPE as set in the environment, nil when unset.
    public var coreTypeVariable: String?

    public init(core: String, configuration: String, threads: Int, bestCore: String, cpuModel: String, coreTypeVariable: String?) {
        self.core = core; self.configuration = configuration; self.threads = threads
        self.bestCore = bestCore; self.cpuModel = cpuModel; self.coreTypeVariable = coreTypeVariable
    }
}
