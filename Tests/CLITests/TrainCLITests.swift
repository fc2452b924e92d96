import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Datasets
import LinearAlgebra

/// `hf train`, `resume`, `evaluate`, `report`, `rosenbrock` and the error paths, as a user runs them.
final class TrainCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 9)
        for (name, rows) in [("train.npy", 200), ("test.npy", 50)] {
            let values = (0..<(rows * 16)).map { _ in Float(g.uniform() < 0.3 ? 1 : 0) }
            try NPY.write(Matrix(rows: rows, columns: 16, elements: values), to: directory.appendingPathComponent(name))
        }
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func trainArguments(out: String, iterations: Int) -> [String] {
        ["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-8-3", "--mirror",
         "--initial-lambda", "1", "--max-iterations", String(iterations), "--checkpoint-interval", "2", "--out", out]
    }

    func testTrainResumeEvaluateAndReport() throws {
        let straight = path("straight"), resumed = path("resumed")
        let a = try CLITests.run(trainArguments(out: straight, iterations: 6) + ["--json"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let lines = a.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 6, "one JSON object per iteration with --json")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["iteration", "seconds", "train_loss", "train_error", "test_error", "lambda", "rho", "cg_iterations",
                    "cg_chosen", "gradient_evaluations", "curvature_products", "gflops"] {
            XCTAssertNotNil(first[key], key)
        }
        XCTAssertEqual(try CLITests.run(trainArguments(out: resumed, iterations: 3) + ["--quiet"]).status, 0)
        let r = try CLITests.run(["train", "--resume", resumed, "--max-iterations", "6", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ma = try String(contentsOfFile: straight + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let mb = try String(contentsOfFile: resumed + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        func losses(_ m: [Substring]) throws -> [Double] {
            try m.map { (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["train_loss"] as! Double }
        }
        XCTAssertEqual(try losses(ma), try losses(mb), "resumed trajectory equals the uninterrupted one")

        let e = try CLITests.run(["evaluate", "--checkpoint", straight, "--data", path("test.npy"), "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains("reconstruction_error"), e.stdout)

        let report = path("report")
        let rep = try CLITests.run(["report", straight, resumed, "--out", report])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        let svg = try Data(contentsOf: URL(fileURLWithPath: report + "/error-vs-time.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse(), "the SVG parses as XML")
        let png = try Data(contentsOf: URL(fileURLWithPath: report + "/reconstructions.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/index.html"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: report + "/table.md"))
    }

    func testBadInputGivesOneLineErrorsAndNonZeroExit() throws {
        let cases: [([String], String)] = [
            (["train", "--preset", "nope"], "unknown preset"),
            (["train"], "--preset"),
            (["train", "--data", path("missing.npy"), "--layers", "16-4", "--out", path("m")], "missing.npy"),
            (["train", "--data", path("train.npy"), "--layers", "16-x-4", "--out", path("m2")], "--layers"),
            (["train", "--data", path("train.npy"), "--layers", "20-4", "--mirror", "--out", path("m3")], "20 units"),
            (["train", "--data", path("train.npy"), "--layers", "16-4", "--mirror", "--weight-cost", "-1", "--out", path("m4")], "weight-cost"),
            (["train", "--resume", path("not-a-run")], "not a run folder"),
            (["train", "--data", path("train.npy"), "--layers", "16-4", "--mirror", "--optimizer", "sgd", "--lr-schedule", "step:2", "--out", path("m5")], "--lr-schedule"),
            (["train", "--data", path("train.npy"), "--layers", "16-4", "--mirror", "--optimizer", "newton", "--out", path("m6")], "newton"),
            (["evaluate", "--checkpoint", path("not-a-run")], "not a run folder"),
            (["report", path("not-a-run"), "--out", path("r")], "not a run folder"),
            (["data", "summary", "--dataset", "mnist", "--data-dir", path("empty")], "mnist"),
        ]
        for (arguments, expected) in cases {
            let r = try CLITests.run(arguments)
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), "\(arguments) crashed: \(r.stderr)")
        }
        // A failed train leaves no half-made run folder behind.
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("m3") + "/config.json"))
    }

    /// PT+NCG and SGD through the same command: pre-training, baselines, the shared report.
    func testPretrainedNonlinearCGAndSGDRuns() throws {
        let pt = path("pt-ncg"), sgd = path("sgd")
        let a = try CLITests.run(["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-8-3",
                                  "--mirror", "--init", "pretrained", "--pretrain-epochs", "3", "--optimizer", "ncg",
                                  "--minibatch-size", "100", "--max-iterations", "10", "--evaluation-interval", "5", "--out", pt, "--quiet"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: pt + "/pretrained.safetensors"))
        let b = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--optimizer", "sgd",
                                  "--learning-rate", "0.05", "--nesterov", "--minibatch-size", "20", "--max-iterations", "10", "--lr-schedule", "step:0.5:5",
                                  "--init-from", pt + "/pretrained.safetensors", "--out", sgd, "--quiet"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let report = path("baselines-report")
        XCTAssertEqual(try CLITests.run(["report", pt, sgd, "--out", report]).status, 0)
        let table = try String(contentsOfFile: report + "/table.md", encoding: .utf8)
        XCTAssertTrue(table.contains("PT") && table.contains("NCG") && table.contains("SGD"), table)
        let bad = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--init", "weird"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--init"), bad.stderr)
    }

    /// The benchmark prints the fields the speed targets are judged on (tiny sizes: the
    /// numbers are not meaningful here, only the contract).
    func testBenchJSONFields() throws {
        let r = try CLITests.run(["bench", "--cases", "300", "--batch", "100", "--repeats", "1", "--cg-iterations", "4", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for key in ["sgemm_gflops", "gradient_seconds", "gradient_gflops", "gv_seconds", "gv_gflops", "peak_rss_mb",
                    "hf_iteration_seconds", "hf_iteration_gflops", "hf_iteration_ratio"] {
            let value = try XCTUnwrap(object[key] as? Double, key)
            XCTAssertGreaterThan(value, 0, key)
        }
        XCTAssertEqual(object["hf_iteration_cg_iterations"] as? Int, 4, "CG runs to the fixed limit")
        XCTAssertTrue(["avx2+fma", "swift-simd"].contains(object["elementwise_kernels"] as? String ?? ""))
        XCTAssertEqual(object["isa"] as? String, object["elementwise_kernels"] as? String)
        // What ran: the same BLAS description as `hf blas` gives in the same environment.
        let blas = try CLITests.run(["blas", "--json"])
        XCTAssertEqual(blas.status, 0, blas.stderr)
        let expected = try JSONSerialization.jsonObject(with: Data(blas.stdout.utf8)) as! [String: Any]
        for key in ["blas_core", "blas_config", "blas_core_best", "cpu_model"] {
            XCTAssertEqual(object[key] as? String, expected[key] as? String, key)
        }
        XCTAssertFalse((object["blas_core"] as? String ?? "").isEmpty)
        XCTAssertNotEqual(try CLITests.run(["bench", "--cases=-3"]).status, 0)
    }

    /// SIGINT stops at the next iteration boundary with a checkpoint, exit status 130, and
    /// the run resumes from there.
    func testInterruptWritesACheckpointAndResumes() throws {
        let out = path("interrupted")
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--max-iterations", "1000000",
                       "--checkpoint-interval", "100000", "--out", out, "--quiet"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let metrics = out + "/metrics.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: metrics, encoding: .utf8), text.split(separator: "\n").count >= 3 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 130)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint/optimizer_state.json"))) as! [String: Any]
        let iteration = try XCTUnwrap(state["iteration"] as? Int)
        XCTAssertGreaterThanOrEqual(iteration, 3)
        let r = try CLITests.run(["train", "--resume", out, "--max-iterations", String(iteration + 2), "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, iteration + 2)
    }

    /// A preset's architecture can be changed by flags; without --layers its own encoder is
    /// mirrored, keeping the linear code layer.
    func testPresetArchitectureOverrides() throws {
        let out = path("tanh")
        let r = try CLITests.run(["train", "--preset", "curves", "--hidden", "tanh", "--max-iterations", "0",
                                  "--cache-dir", path("cache"), "--out", out, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as! [String: Any]
        let architecture = config["architecture"] as! [String: Any]
        XCTAssertEqual(architecture["layerSizes"] as? [Int], [784, 400, 200, 100, 50, 25, 6, 25, 50, 100, 200, 400, 784])
        let activations = architecture["activations"] as! [String]
        XCTAssertEqual(activations[5], "linear")
        XCTAssertEqual(activations[0], "tanh")
        XCTAssertEqual(activations.last, "logistic")
    }

    func testRosenbrockJSON() throws {
        let r = try CLITests.run(["rosenbrock", "--dimension", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let hf = object["hf"] as! [String: Any]
        XCTAssertLessThan(hf["final_value"] as! Double, 1e-10)
        XCTAssertLessThanOrEqual(hf["iterations"] as! Int, 100)
        XCTAssertNotNil(object["gradient_descent"])
    }

    /// A run that ends by itself: early stopping on a validation split, then the best
    /// iteration's parameters evaluated from best/, as summary.json reports them.
    func testEarlyStoppingSummaryAndEvaluateBest() throws {
        let run = path("early")
        let args = ["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-24-12", "--mirror",
                    "--initial-lambda", "1", "--max-iterations", "80", "--validation-split", "50", "--early-stopping", "2",
                    "--weight-cost", "0", "--quiet", "--out", run]
        let r = try CLITests.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["stop_reason"] as? String, "early-stopping", "\(summary)")
        XCTAssertEqual(summary["selected_by"] as? String, "validation")
        let best = summary["best"] as! [String: Any]
        let e = try CLITests.run(["evaluate", "--checkpoint", run + "/best", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluated = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(evaluated["iteration"] as? Int, summary["best_iteration"] as? Int)
        let validation = evaluated["validation"] as! [String: Any]
        XCTAssertEqual(validation["cases"] as? Int, 50)
        XCTAssertEqual(validation["reconstruction_error"] as! Double, best["validation_error"] as! Double, accuracy: 1e-12)

        // Without validation data, --early-stopping is refused before any folder is made.
        let refused = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror",
                                        "--early-stopping", "3", "--out", path("refused")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("validation"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("refused")))
    }
}
