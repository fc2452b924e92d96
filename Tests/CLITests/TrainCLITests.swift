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
        // Each run's reconstructions, labelled with its name; every file written is listed.
        let listed = Set(rep.stdout.split(separator: "\n").map(String.init))
        let html = try String(contentsOfFile: report + "/index.html", encoding: .utf8)
        for run in ["straight", "resumed"] {
            let picture = report + "/reconstructions-\(run).png"
            let png = try Data(contentsOf: URL(fileURLWithPath: picture))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
            XCTAssertTrue(listed.contains(picture), rep.stdout)
            XCTAssertTrue(html.contains("<figcaption>\(run): test images"), html)
        }
        for name in ["table.md", "error-vs-time.svg", "error-vs-iteration.svg", "lambda-and-cg.svg", "index.html"] {
            XCTAssertTrue(listed.contains(report + "/" + name), "\(name) not listed: \(rep.stdout)")
        }
        let written = try FileManager.default.contentsOfDirectory(atPath: report).map { report + "/" + $0 }
        XCTAssertEqual(Set(written), listed, "report lists exactly the files it wrote")
        // The data set is named from the user's file; the l2 cell does not wrap.
        let table = try String(contentsOfFile: report + "/table.md", encoding: .utf8)
        XCTAssertTrue(table.contains("| straight | train.npy |"), table)
        XCTAssertFalse(table.contains("FILES"), table)
        XCTAssertTrue(html.contains("<td class=\"number\">2e-05</td>"), html)
        XCTAssertTrue(html.contains("white-space: nowrap"), html)

        // One run: its picture is reconstructions.png.
        let single = path("single-report")
        let one = try CLITests.run(["report", straight, "--out", single])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains(single + "/reconstructions.png"), one.stdout)
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
                                  "--init-from", pt + "/pretrained.safetensors", "--out", sgd, "--evaluation-interval", "5"])
        XCTAssertEqual(b.status, 0, b.stderr)
        // The progress table has a row per evaluation (steps 5 and 10), not one per step.
        let rows = b.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).first?.isNumber ?? false }
        XCTAssertEqual(rows.map { $0.split(separator: " ").first.map(String.init) }, ["5", "10"], b.stdout)
        let report = path("baselines-report")
        XCTAssertEqual(try CLITests.run(["report", pt, sgd, "--out", report]).status, 0)
        let table = try String(contentsOfFile: report + "/table.md", encoding: .utf8)
        XCTAssertTrue(table.contains("PT") && table.contains("NCG") && table.contains("SGD"), table)
        let bad = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--init", "weird"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--init"), bad.stderr)
    }

    /// A mini-batch optimizer writes a metrics record every 10 steps by default (and at each
    /// evaluation); --log-interval sets it, also on --resume, and must be positive.
    func testLogIntervalOfMiniBatchOptimizers() throws {
        let out = path("adam-log")
        let a = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--optimizer", "adam",
                                  "--minibatch-size", "20", "--max-iterations", "25", "--evaluation-interval", "12",
                                  "--checkpoint-interval", "1", "--out", out, "--quiet"])
        XCTAssertEqual(a.status, 0, a.stderr)
        func iterations() throws -> [Int] {
            try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["iteration"] as? Int)
            }
        }
        XCTAssertEqual(try iterations(), [10, 12, 20, 24])
        let b = try CLITests.run(["train", "--resume", out, "--log-interval", "3", "--max-iterations", "31", "--quiet"])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(try iterations(), [10, 12, 20, 24, 27, 30])
        let bad = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror", "--log-interval", "0",
                                    "--out", path("bad-log")])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--log-interval must be positive"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("bad-log")))
    }

    /// The benchmark prints the fields the speed targets are judged on (tiny sizes: the
    /// numbers are not meaningful here, only the contract).
    func testBenchJSONFields() throws {
        let r = try CLITests.run(["bench", "--cases", "300", "--batch", "100", "--repeats", "1", "--cg-iterations", "4", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for key in ["sgemm_gflops", "gradient_seconds", "gradient_gflops", "gv_seconds", "gv_gflops", "peak_rss_mb",
                    "hf_iteration_seconds", "hf_iteration_gflops", "hf_iteration_ratio",
                    "hf_iteration_gradient_seconds", "hf_iteration_cg_seconds", "hf_iteration_backtracking_seconds"] {
            let value = try XCTUnwrap(object[key] as? Double, key)
            XCTAssertGreaterThan(value, 0, key)
        }
        XCTAssertEqual(object["hf_iteration_cg_iterations"] as? Int, 4, "CG runs to the fixed limit")
        // The parts of the iteration fit in its time; backtracking and rho made value passes.
        let parts = ["hf_iteration_gradient_seconds", "hf_iteration_cg_seconds", "hf_iteration_backtracking_seconds"]
            .compactMap { object[$0] as? Double }.reduce(0, +)
        XCTAssertLessThanOrEqual(parts, object["hf_iteration_seconds"] as? Double ?? 0)
        XCTAssertGreaterThan(object["hf_iteration_value_passes"] as? Int ?? 0, 0)
        XCTAssertTrue(["avx512", "avx2+fma", "swift-simd"].contains(object["elementwise_kernels"] as? String ?? ""), "\(object["elementwise_kernels"] ?? "none")")
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
                    "--weight-cost", "0", "--quiet", "--threads", "1", "--out", run]
        let r = try CLITests.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["stop_reason"] as? String, "early-stopping", "\(summary)")
        // --threads bounds both kinds of compute threads, as the summary records.
        let machine = summary["machine"] as! [String: Any]
        XCTAssertEqual(machine["blas_threads"] as? Int, 1, "\(machine)")
        XCTAssertEqual(machine["elementwise_threads"] as? Int, 1, "\(machine)")
        // The child inherits this process's environment, so it chooses the same kernels.
        XCTAssertEqual(machine["elementwise_isa"] as? String, Float.elementwiseISA.rawValue, "\(machine)")
        XCTAssertGreaterThan(machine["peak_rss_mb"] as? Double ?? 0, 1, "\(machine)")
        XCTAssertEqual(summary["selected_by"] as? String, "validation")
        let best = summary["best"] as! [String: Any]
        let e = try CLITests.run(["evaluate", "--checkpoint", run + "/best", "--json", "--threads", "1"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let noThreads = try CLITests.run(["evaluate", "--checkpoint", run + "/best", "--threads", "0"])
        XCTAssertEqual(noThreads.status, 64)
        CLITests.assertOneErrorLine(noThreads.stderr, contains: "--threads must be >= 1", "evaluate --threads 0")
        let evaluated = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(evaluated["iteration"] as? Int, summary["best_iteration"] as? Int)
        let validation = evaluated["validation"] as! [String: Any]
        XCTAssertEqual(validation["cases"] as? Int, 50)
        XCTAssertEqual(validation["reconstruction_error"] as! Double, best["validation_error"] as! Double, accuracy: 1e-12)

        // The closing line names best/ while it holds the parameters, and says so when it was
        // removed after the best iteration (a resume rewrites it only from the checkpoint's).
        let kept = try CLITests.run(["train", "--resume", run, "--threads", "1"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(kept.stderr.contains("; parameters in \(run)/best"), kept.stderr)
        try FileManager.default.removeItem(atPath: run + "/best")
        let lost = try CLITests.run(["train", "--resume", run, "--threads", "1"])
        XCTAssertEqual(lost.status, 0, lost.stderr)
        XCTAssertTrue(lost.stderr.contains("its parameters are not kept"), lost.stderr)
        XCTAssertFalse(lost.stderr.contains("; parameters in"), lost.stderr)

        // Without validation data, --early-stopping is refused before any folder is made.
        let refused = try CLITests.run(["train", "--data", path("train.npy"), "--layers", "16-8-3", "--mirror",
                                        "--early-stopping", "3", "--out", path("refused")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("validation"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("refused")))
        // ... and --paper-style-stop, its test-data counterpart, names --early-stopping there.
        let paper = try CLITests.run(["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-8-3",
                                      "--mirror", "--validation-split", "50", "--paper-style-stop", "3", "--out", path("refused")])
        XCTAssertNotEqual(paper.status, 0)
        CLITests.assertOneErrorLine(paper.stderr, contains: "use --early-stopping N", "--paper-style-stop with validation data")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("refused")))
    }

    /// --test-once from the command line: no test column in the metrics, one test error in the
    /// summary, the one `hf evaluate` gives for best/.
    func testTestOnceFromTheCommandLine() throws {
        let run = path("once")
        let r = try CLITests.run(["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-24-12", "--mirror",
                                  "--initial-lambda", "1", "--max-iterations", "80", "--validation-split", "50", "--early-stopping", "2",
                                  "--test-once", "--weight-cost", "0", "--threads", "1", "--out", run])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("measured once"), r.stderr)
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        XCTAssertFalse(metrics.contains("test_error"), "the test set stayed out of the run")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["test_measured_once"] as? Bool, true, "\(summary)")
        let best = summary["best"] as! [String: Any]
        let e = try CLITests.run(["evaluate", "--checkpoint", run + "/best", "--json", "--threads", "1"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluated = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        let test = evaluated["test"] as! [String: Any]
        XCTAssertEqual(test["reconstruction_error"] as! Double, best["test_error"] as! Double, accuracy: 1e-12)
        // The choice is made when the run starts, not on a resume.
        let resumed = try CLITests.run(["train", "--resume", run, "--test-once"])
        XCTAssertNotEqual(resumed.status, 0)
        XCTAssertTrue(resumed.stderr.contains("--test-once cannot be changed on --resume"), resumed.stderr)
    }

    /// The paper's protocol from the command line: without validation data the run stops
    /// --paper-style-stop evaluations past its lowest test error, and says it chose by test.
    func testPaperStyleStopFromTheCommandLine() throws {
        let run = path("paper")
        let r = try CLITests.run(["train", "--data", path("train.npy"), "--test-data", path("test.npy"), "--layers", "16-24-12",
                                  "--mirror", "--initial-lambda", "1", "--max-iterations", "80", "--paper-style-stop", "2",
                                  "--weight-cost", "0", "--quiet", "--threads", "1", "--out", run])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["stop_reason"] as? String, "early-stopping", "\(summary)")
        XCTAssertEqual(summary["selected_by"] as? String, "test")
        XCTAssertEqual(summary["iterations"] as? Int, (summary["best_iteration"] as! Int) + 2)
    }

    /// Relative data paths are stored absolute (as typed for display): the run resumes and
    /// evaluates from another directory, and takes its data from a new place only when it is
    /// the same file.
    func testRunMovesWithItsFolderAndDataCanMove() throws {
        let a = directory.appendingPathComponent("A"), b = directory.appendingPathComponent("B"), c = directory.appendingPathComponent("C")
        for d in [a, b, c] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        for name in ["train.npy", "test.npy"] {
            try FileManager.default.copyItem(atPath: path(name), toPath: a.appendingPathComponent(name).path)
        }
        let t = try CLITests.run(["train", "--data", "train.npy", "--test-data", "./test.npy", "--layers", "16-8-3", "--mirror",
                                  "--initial-lambda", "1", "--max-iterations", "2", "--out", "run", "--quiet"], in: a)
        XCTAssertEqual(t.status, 0, t.stderr)
        let run = a.appendingPathComponent("run")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as! [String: Any]
        let data = config["data"] as! [String: Any]
        XCTAssertEqual(data["trainInputs"] as? String, a.appendingPathComponent("train.npy").standardizedFileURL.path)
        XCTAssertEqual(data["testInputs"] as? String, a.appendingPathComponent("test.npy").standardizedFileURL.path)
        let files = data["files"] as! [String: [String: Any]]
        XCTAssertEqual(files["trainInputs"]?["asGiven"] as? String, "train.npy")
        XCTAssertEqual(files["testInputs"]?["asGiven"] as? String, "./test.npy")

        // From another directory, by a relative path to the run folder.
        let r = try CLITests.run(["train", "--resume", "../A/run", "--max-iterations", "3", "--quiet"], in: b)
        XCTAssertEqual(r.status, 0, r.stderr)
        let e = try CLITests.run(["evaluate", "--checkpoint", "../A/run", "--json"], in: b)
        XCTAssertEqual(e.status, 0, e.stderr)
        let evaluation = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((evaluation["train"] as? [String: Any])?["cases"] as? Int, 200)
        XCTAssertEqual((evaluation["test"] as? [String: Any])?["cases"] as? Int, 50)

        // The data moves: a clear refusal, then the new place is taken when the file is the same.
        try FileManager.default.moveItem(at: a.appendingPathComponent("train.npy"), to: c.appendingPathComponent("moved.npy"))
        let lost = try CLITests.run(["train", "--resume", "../A/run", "--max-iterations", "4"], in: b)
        XCTAssertEqual(lost.status, 1, lost.stderr)
        CLITests.assertOneErrorLine(lost.stderr, contains: "train.npy: no such file (the run's --data file); if it moved, give its new location", "moved data")
        let lostEvaluation = try CLITests.run(["evaluate", "--checkpoint", "../A/run"], in: b)
        XCTAssertEqual(lostEvaluation.status, 1, lostEvaluation.stderr)
        CLITests.assertOneErrorLine(lostEvaluation.stderr, contains: "give it with --data FILE", "evaluate, moved data")
        let other = try CLITests.run(["train", "--resume", "../A/run", "--data", "../A/test.npy", "--max-iterations", "4"], in: b)
        XCTAssertEqual(other.status, 1, other.stderr)
        CLITests.assertOneErrorLine(other.stderr, contains: "--data ../A/test.npy is not the file this run was started with", "other file")
        let moved = try CLITests.run(["train", "--resume", "../A/run", "--data", "../C/moved.npy", "--max-iterations", "4", "--quiet"], in: b)
        XCTAssertEqual(moved.status, 0, moved.stderr)
        let after = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual((after["data"] as! [String: Any])["trainInputs"] as? String, c.appendingPathComponent("moved.npy").standardizedFileURL.path)
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        // Later commands find the data at its new place, from anywhere.
        XCTAssertEqual(try CLITests.run(["evaluate", "--checkpoint", run.path]).status, 0)
    }

    /// `--threads` changes how fast a run goes, not what it does: 1 and 2 compute threads take
    /// the same decisions (CG steps, chosen iterate, lambda) and agree on every measured number
    /// to 1e-6 relative. Not to the bit: OpenBLAS's own results change in the last bits with
    /// its thread count (measured: the gradient norm at 8e-9 relative), though the elementwise
    /// reductions do not. The sizes put the work above the thresholds where the elementwise
    /// kernels split over threads (32768 elements) and OpenBLAS threads its gemms.
    func testThreadCountDoesNotChangeTheRun() throws {
        var g = SeededGenerator(seed: 11)
        let data = directory.appendingPathComponent("threads.npy")
        try NPY.write(Matrix(rows: 1200, columns: 96, elements: (0..<(1200 * 96)).map { _ in Float(g.uniform()) }), to: data)
        func metrics(threads: Int) throws -> [[String: Any]] {
            let out = path("threads-\(threads)")
            let r = try CLITests.run(["train", "--data", data.path, "--layers", "96-160-40", "--mirror", "--batch-size", "600",
                                      "--max-iterations", "3", "--threads", "\(threads)", "--quiet", "--out", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        let one = try metrics(threads: 1), two = try metrics(threads: 2)
        XCTAssertEqual(one.count, 3); XCTAssertEqual(two.count, 3)
        for (a, b) in zip(one, two) {
            for key in ["iteration", "cg_iterations", "cg_chosen", "curvature_products", "gradient_evaluations"] {
                XCTAssertEqual(a[key] as? Int, b[key] as? Int, key)
            }
            for key in ["lambda", "line_search_rate"] { XCTAssertEqual(a[key] as? Double, b[key] as? Double, key) }
            for key in ["train_loss", "train_error", "gradient_norm", "rho", "model_change", "rho_full_data"] {
                let (x, y) = (a[key] as! Double, b[key] as! Double)
                XCTAssertEqual(x, y, accuracy: 1e-6 * abs(x), key)
            }
        }
        // rho_full_data, checked against the log itself: for a step the line search left whole,
        // the change of the full-data objective between two records over the model's change.
        var checked = 0
        for (before, after) in zip(one, one.dropFirst()) where after["line_search_rate"] as? Double == 1 {
            let (f0, f1) = (before["train_loss"] as! Double, after["train_loss"] as! Double)
            let model = after["model_change"] as! Double
            XCTAssertLessThan(model, 0)
            XCTAssertEqual(after["rho_full_data"] as! Double, (f1 - f0) / model, accuracy: 1e-4)
            XCTAssertNotEqual(after["rho_full_data"] as! Double, after["rho"] as! Double, "a 600-case batch of 1200")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 0)
    }

    /// `--rho-data full-data`: rho, and so lambda, come from the whole training set; config.json
    /// records it, every record's rho is its rho_full_data, and the default (Martens' curvature
    /// batch) gives other rhos. Refused with an optimizer that has no rho, and with a bad value.
    func testRhoDataOption() throws {
        var g = SeededGenerator(seed: 12)
        let data = directory.appendingPathComponent("rho.npy")
        try NPY.write(Matrix(rows: 400, columns: 24, elements: (0..<(400 * 24)).map { _ in Float(g.uniform()) }), to: data)
        func train(_ extra: [String], out: String) throws -> (Int32, String) {
            let r = try CLITests.run(["train", "--data", data.path, "--layers", "24-12-4", "--mirror",
                                      "--max-iterations", "4", "--threads", "1", "--quiet", "--out", path(out)] + extra)
            return (r.status, r.stderr)
        }
        func records(_ out: String) throws -> [[String: Any]] {
            try String(contentsOfFile: path(out) + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        let (status, stderr) = try train(["--batch-size", "100", "--rho-data", "full-data"], out: "rho-full")
        XCTAssertEqual(status, 0, stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("rho-full/config.json")))) as! [String: Any]
        XCTAssertEqual((config["hessianFree"] as! [String: Any])["reductionRatioData"] as? String, "full-data")
        let full = try records("rho-full")
        XCTAssertEqual(full.count, 4)
        for r in full { XCTAssertEqual(String(describing: r["rho"]!), String(describing: r["rho_full_data"]!)) }
        XCTAssertEqual(try train(["--batch-size", "100"], out: "rho-batch").0, 0)
        let batch = try records("rho-batch")
        XCTAssertNotEqual(String(describing: batch[0]["rho"]!), String(describing: batch[0]["rho_full_data"]!))
        for bad in [["--rho-data", "chunk"], ["--rho-data", "full-data", "--optimizer", "sgd"]] {
            let (status, stderr) = try train(bad, out: "rho-bad")
            XCTAssertEqual(status, 64, "\(bad): \(stderr)")
            XCTAssertTrue(stderr.contains("--rho-data"), stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("rho-bad")))
        }
    }

    /// A second SIGINT ends the process at once, even in the middle of a long CG run.
    ///
    /// The case that hung: `exit` from the signal handler ran OpenBLAS's destructor, which
    /// joins its worker threads while the main thread waits for them inside a threaded sgemm,
    /// so the process kept computing. Wide layers make the CG run mostly threaded sgemm (with
    /// `exit` this test hung in every try; with `_exit` the process is gone in about 0.2 s).
    func testSecondInterruptQuitsWithinTwoSecondsDuringCG() throws {
        var g = SeededGenerator(seed: 5)
        let big = directory.appendingPathComponent("big.npy")
        try NPY.write(Matrix(rows: 2000, columns: 784, elements: (0..<(2000 * 784)).map { _ in Float(g.uniform()) }), to: big)
        let out = path("long-cg")
        let p = Process()
        p.executableURL = CLITests.binary
        // A curvature product on 2000 cases through 784-1500-750-30-750-1500-784 takes seconds,
        // and CG runs at least 10 of them: the signals arrive inside CG.
        p.arguments = ["train", "--data", big.path, "--layers", "784-1500-750-30", "--mirror", "--threads", "2",
                       "--max-iterations", "100", "--out", out, "--quiet"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !FileManager.default.fileExists(atPath: out + "/config.json") { Thread.sleep(forTimeInterval: 0.05) }
        // Past the data loading and the first gradient: inside CG.
        Thread.sleep(forTimeInterval: 4)
        XCTAssertTrue(p.isRunning, "the run ended before the signals")
        kill(p.processIdentifier, SIGINT)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertTrue(p.isRunning, "one SIGINT waits for the end of the iteration")
        let second = Date()
        kill(p.processIdentifier, SIGINT)
        while p.isRunning && Date().timeIntervalSince(second) < 10 { Thread.sleep(forTimeInterval: 0.02) }
        let seconds = Date().timeIntervalSince(second)
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        XCTAssertLessThan(seconds, 2, "the process was still there \(seconds) s after the second SIGINT")
        XCTAssertEqual(p.terminationStatus, 130)
    }
}
