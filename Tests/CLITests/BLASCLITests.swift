import XCTest
import Foundation
import LinearAlgebra
import Datasets

/// `hf`'s start-up choice of OpenBLAS core, end to end: the probe child, the re-execution, the
/// warning when the probe fails, and the user's OPENBLAS_CORETYPE kept. The test hooks
/// HF_BLAS_PRETEND_CORE / HF_BLAS_PRETEND_BEST_CORE make `hf` believe OpenBLAS fell back.
final class BLASCLITests: XCTestCase {
    /// This environment without OPENBLAS_CORETYPE or hf's BLAS variables (`make test` may have
    /// exported OPENBLAS_CORETYPE), plus `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var e = ProcessInfo.processInfo.environment.filter { key, _ in key != "OPENBLAS_CORETYPE" && !key.hasPrefix("HF_BLAS_") }
        e.merge(extra) { _, new in new }
        return e
    }

    func blasJSON(_ extra: [String: String] = [:]) throws -> (report: [String: Any], stderrLines: [Substring]) {
        let r = try CLITests.run(["blas", "--json"], replacingEnvironment: environment(extra))
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return (report, r.stderr.split(separator: "\n"))
    }

    /// The best core for this processor, or a skip where hf never switches cores.
    func bestCoreOrSkip() throws -> String {
        guard let best = OpenBLASCore.best(for: .current), OpenBLASCore.isDynamicArchitecture else {
            throw XCTSkip("hf keeps OpenBLAS's core on this machine (not x86-64, no better core, or no DYNAMIC_ARCH)")
        }
        return best
    }

    func testReportNamesCoreAndProcessor() throws {
        let (report, errors) = try blasJSON()
        for key in ["blas_core", "blas_config", "blas_core_best", "cpu_model", "blas_threads", "forced_by_hf", "gemm_check"] {
            XCTAssertNotNil(report[key], key)
        }
        XCTAssertTrue((report["blas_config"] as! String).hasPrefix("OpenBLAS"))
        XCTAssertEqual(report["gemm_check"] as? String, "passed")
        XCTAssertTrue(report["openblas_coretype"] is NSNull, "unset in this environment")
        if OpenBLASCore.best(for: .current) != nil && errors.isEmpty {
            // hf kept OpenBLAS's core without a word, so it must be as good as the best.
            XCTAssertEqual(OpenBLASCore.decision(openBLASCore: report["blas_core"] as! String, processor: .current,
                                                 coreTypeVariable: nil, dynamicArchitecture: OpenBLASCore.isDynamicArchitecture),
                           .keepOpenBLASChoice)
        }
    }

    func testFallbackIsProbedAndRestartedWithTheBestCore() throws {
        let best = try bestCoreOrSkip()
        let (report, errors) = try blasJSON(["HF_BLAS_PRETEND_CORE": "Prescott"])
        XCTAssertEqual(errors.count, 1, "exactly one line, one restart: \(errors)")
        XCTAssertTrue(errors.first?.hasPrefix("hf: OpenBLAS chose its Prescott core") ?? false, "\(errors)")
        XCTAssertTrue(errors.first?.contains("restarting with OPENBLAS_CORETYPE=\(best)") ?? false, "\(errors)")
        XCTAssertEqual(report["openblas_coretype"] as? String, best)
        XCTAssertEqual(report["forced_by_hf"] as? Bool, true)
        XCTAssertEqual((report["blas_core"] as? String)?.lowercased(), best.lowercased(), "the restarted process runs the forced core")
        XCTAssertEqual(report["gemm_check"] as? String, "passed")

        let forced = try CLITests.run(["blas", "--forced-core"], replacingEnvironment: environment(["HF_BLAS_PRETEND_CORE": "Prescott"]))
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(forced.stdout, best + "\n", "what `make test` exports")
    }

    func testFailedProbeWarnsAndKeepsOpenBLASChoice() throws {
        _ = try bestCoreOrSkip()
        let (plain, _) = try blasJSON()
        // OpenBLAS has no core of this name: the probe child runs another core and says so.
        let (report, errors) = try blasJSON(["HF_BLAS_PRETEND_CORE": "Prescott", "HF_BLAS_PRETEND_BEST_CORE": "NoSuchCore"])
        XCTAssertEqual(errors.count, 1, "\(errors)")
        XCTAssertTrue(errors.first?.hasPrefix("hf: warning: ") ?? false, "\(errors)")
        XCTAssertTrue(errors.first?.contains("NoSuchCore core failed its check") ?? false, "\(errors)")
        XCTAssertEqual(report["forced_by_hf"] as? Bool, false)
        XCTAssertTrue(report["openblas_coretype"] is NSNull)
        XCTAssertEqual(report["blas_core"] as? String, plain["blas_core"] as? String, "OpenBLAS's own choice")
    }

    /// `hf train` keeps a narrower OPENBLAS_CORETYPE but says so once; with the best core set,
    /// or with hf's own choice, it says nothing.
    func testTrainNotesANarrowerCoreTypeOfTheUser() throws {
        let best = try bestCoreOrSkip()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-blas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var g = SeededGenerator(seed: 4)
        let data = directory.appendingPathComponent("train.npy")
        try NPY.write(Matrix(rows: 40, columns: 6, elements: (0..<240).map { _ in Float(g.uniform()) }), to: data)
        func train(_ coreType: String?, _ name: String) throws -> [Substring] {
            let arguments = ["train", "--data", data.path, "--layers", "6-3", "--mirror", "--max-iterations", "1",
                             "--out", directory.appendingPathComponent(name).path]
            let r = try CLITests.run(arguments, replacingEnvironment: environment(coreType.map { ["OPENBLAS_CORETYPE": $0] } ?? [:]))
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stderr.split(separator: "\n").filter { $0.hasPrefix("hf: note: OPENBLAS_CORETYPE") }
        }
        let narrow = try train("Prescott", "narrow")
        XCTAssertEqual(narrow.count, 1, "one note: \(narrow)")
        XCTAssertTrue(narrow.first?.contains("OPENBLAS_CORETYPE=Prescott is set in the environment") ?? false, "\(narrow)")
        XCTAssertTrue(narrow.first?.contains("best (\(best))") ?? false, "\(narrow)")
        XCTAssertEqual(try train(best, "best"), [], "the best core needs no note")
        XCTAssertEqual(try train(nil, "unset"), [], "hf's own choice needs no note")
    }

    func testUsersCoreTypeIsKept() throws {
        let (report, errors) = try blasJSON(["OPENBLAS_CORETYPE": "Haswell", "HF_BLAS_PRETEND_CORE": "Prescott"])
        XCTAssertEqual(errors, [], "no probe, no restart, no warning")
        XCTAssertEqual(report["openblas_coretype"] as? String, "Haswell")
        XCTAssertEqual(report["forced_by_hf"] as? Bool, false)
    }
}
