import XCTest
import Foundation
import Datasets
import LinearAlgebra

/// A user's mistakes, one case each: every failure is one line `hf: error: ...` naming what
/// was given, exit status 64 for bad flags and values and 1 for the rest, and nothing half-made.
final class ErrorCLITests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 3)
        let values = (0..<(100 * 16)).map { _ in Float(g.uniform() < 0.3 ? 1 : 0) }
        try NPY.write(Matrix(rows: 100, columns: 16, elements: values), to: directory.appendingPathComponent("train.npy"))
        // A plain file where a folder would have to be made.
        try Data("not a folder".utf8).write(to: directory.appendingPathComponent("a-file"))
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// `hf train` on the small file with `extra` flags, writing to `out`.
    func train(_ extra: [String], out: String = "run") -> [String] {
        ["train", "--data", path("train.npy"), "--layers", "16-4", "--mirror", "--max-iterations", "1", "--out", path(out)] + extra
    }

    func testBadFlagsAndValuesExit64WithTheRangeProblemAndMakeNothing() throws {
        let cases: [([String], String)] = [
            (["train", "--bogus"], "Unknown option '--bogus'"),
            (train(["--bogus"]), "Unknown option '--bogus'"),
            (["train"], "give --preset"),
            (["evaluate"], "--checkpoint"),
            // Negative numbers after a space are values, so the range check answers.
            (train(["--max-iterations", "-1"]), "--max-iterations must be >= 0, got -1"),
            (train(["--batch-size", "-5"]), "--batch-size must be positive, got -5"),
            (train(["--initial-lambda", "-1"]), "--initial-lambda must be > 0"),
            (train(["--time-limit", "-3"]), "--time-limit must be a positive number of seconds, got -3"),
            (train(["--weight-cost", "-1"]), "--weight-cost must be >= 0, got -1"),
            (train(["--scale", "-1"]), "The value '-1' is invalid for '--scale"),
            // Values that cannot work.
            (train(["--initial-lambda", "0"]), "--initial-lambda must be > 0 (a lambda of 0 can never grow again)"),
            (train(["--scale", "0"]), "The value '0' is invalid for '--scale"),
            (train(["--scale=-1"]), "give 'none' or a positive number"),
            (train(["--threads=-2"]), "--threads must be >= 1, got -2"),
            (train(["--threads", "0"]), "--threads must be >= 1, got 0"),
            (train(["--chunk-size", "0"]), "--chunk-size must be positive, got 0"),
            (train(["--max-cg-iterations", "0"]), "--max-cg-iterations must be >= 1"),
            // Options that the chosen optimizer would ignore.
            (train(["--curvature", "hessian", "--optimizer", "sgd"]), "--curvature applies only to --optimizer hf, not to sgd"),
            (train(["--initial-lambda", "10", "--optimizer", "adam"]), "--initial-lambda applies only to --optimizer hf"),
            (train(["--learning-rate", "0.1"]), "--learning-rate applies only to --optimizer sgd or adam, not to hf"),
            (train(["--momentum", "0.5", "--optimizer", "adam"]), "--momentum applies only to --optimizer sgd"),
            (["train", "--preset", "curves", "--scale", "255", "--out", path("run")], "--scale applies to --data files"),
            (["train", "--resume", path("run"), "--layers", "16-2"], "--layers cannot be changed on --resume"),
            (["evaluate", "--checkpoint", path("run"), "--scale", "0"], "The value '0' is invalid for '--scale"),
            (["evaluate", "--checkpoint", path("run"), "--scale", "255"], "--targets and --scale apply to --data FILE"),
            (["data", "summary", "--dataset", path("train.npy"), "--scale", "0"], "The value '0' is invalid for '--scale"),
            (["data", "show", "--dataset", "curves", "--split", "nope", "--out", path("x.png")], "--split must be train, validation or test"),
            (["data", "summary", "--dataset", "curves", "--recipe", "0", "--cache-dir", path("dl")], "CURVES recipe version 0 does not exist; versions are 1, 2"),
            (["data", "summary", "--dataset", "curves", "--pca", "6,x", "--cache-dir", path("dl")], "--pca takes numbers of components >= 0 separated by commas"),
            (["data", "summary", "--dataset", "curves", "--pca", "-1", "--cache-dir", path("dl")], "--pca takes numbers of components"),
            (["train", "--preset", "mnist", "--curves-recipe", "1", "--out", path("run")], "--curves-recipe applies to the CURVES presets only"),
            (["train", "--preset", "curves", "--curves-recipe", "3", "--out", path("run")], "CURVES recipe version 3 does not exist"),
            (["train", "--resume", path("run"), "--curves-recipe", "1"], "--curves-recipe cannot be changed on --resume"),
            (["data", "download", "--dataset", "curves", "--data-dir", path("dl")], "CURVES is generated, not downloaded"),
            (["rosenbrock", "--initial-lambda", "0"], "--initial-lambda must be > 0"),
            (["train", "--preset", "curves", "--cpu-budget", "-5", "--out", path("run")], "--cpu-budget must be a positive number of CPU seconds, got -5.0"),
            (["train", "--preset", "curves", "--log-interval", "0", "--out", path("run")], "--log-interval must be positive, got 0"),
            (["report", path("run"), "--out", path("dl"), "--error-scale", "cubic"], "--error-scale must be linear or log, got 'cubic'"),
            (["data", "download", "--dataset", "mnist", "--mirror", "not a url", "--data-dir", path("dl")], "--mirror must be a URL"),
        ]
        for (arguments, expected) in cases {
            let r = try CLITests.run(arguments)
            XCTAssertEqual(r.status, 64, "\(arguments): \(r.stderr)")
            CLITests.assertOneErrorLine(r.stderr, contains: expected, "\(arguments)")
            XCTAssertTrue(r.stderr.contains("--help"), "a usage error says where help is: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")), "\(arguments) made the run folder")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("dl")), "\(arguments) made the data folder")
        }
    }

    func testOtherFailuresExit1NamingWhatWasGiven() throws {
        let cases: [([String], String)] = [
            (["train", "--data", path("missing.npy"), "--layers", "16-4", "--out", path("run")], "missing.npy: no such file"),
            (["train", "--data", path("train.npy"), "--layers", "20-4", "--mirror", "--out", path("run")], "20 units"),
            (train([], out: "a-file/run"), "--out \(path("a-file/run")): cannot create the folder (\(path("a-file")) is a file)"),
            // --init-from weights that are missing or not safetensors: read before the run folder is made.
            (train(["--init-from", path("missing.safetensors")]), path("missing.safetensors")),
            (train(["--init-from", path("a-file")]), path("a-file")),
            (["evaluate", "--checkpoint", path("not-a-run")], "not a run folder"),
            (["report", path("not-a-run"), "--out", path("r")], "not a run folder"),
            (["data", "export", "--dataset", path("train.npy"), "--out", path("a-file/x.npy")], "--out \(path("a-file/x.npy"))"),
            (["data", "show", "--dataset", "curves", "--cache-dir", path("cache"), "--first", "30000", "--out", path("x.png")],
             "--first must be in 0..<20000"),
        ]
        for (arguments, expected) in cases {
            let r = try CLITests.run(arguments)
            XCTAssertEqual(r.status, 1, "\(arguments): \(r.stderr)")
            CLITests.assertOneErrorLine(r.stderr, contains: expected, "\(arguments)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("run")), "\(arguments) left a run folder")
        }
        // `report --out` into a path that cannot be a folder names --out, with no NSError text.
        let ok = try CLITests.run(train([]) + ["--quiet"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let r = try CLITests.run(["report", path("run"), "--out", path("a-file/report")])
        XCTAssertEqual(r.status, 1, r.stderr)
        CLITests.assertOneErrorLine(r.stderr, contains: "--out \(path("a-file/report"))", "report --out")
        // Nothing is left of temporary files in the folder written into.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    /// The same `--scale` in every command: 'none' and a positive number are taken.
    func testScaleNoneAndNumbersAreTakenEverywhere() throws {
        let a = try CLITests.run(train(["--scale", "none", "--quiet"]))
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try CLITests.run(train(["--scale", "2", "--quiet"], out: "run2"))
        XCTAssertEqual(b.status, 0, b.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("run2/config.json")))) as! [String: Any]
        XCTAssertEqual((config["data"] as! [String: Any])["divideBy"] as? Double, 2)
        for scale in ["none", "2"] {
            let e = try CLITests.run(["evaluate", "--checkpoint", path("run"), "--data", path("train.npy"), "--scale", scale])
            XCTAssertEqual(e.status, 0, e.stderr)
            let s = try CLITests.run(["data", "summary", "--dataset", path("train.npy"), "--scale", scale])
            XCTAssertEqual(s.status, 0, s.stderr)
        }
        // --no-damping makes a fixed lambda of 0 legal.
        let fixed = try CLITests.run(train(["--initial-lambda", "0", "--no-damping", "--quiet"], out: "run3"))
        XCTAssertEqual(fixed.status, 0, fixed.stderr)
    }

    /// A curvature or mini-batch larger than the data set is cut to it, with a note.
    func testBatchLargerThanTheDataIsCappedWithANote() throws {
        let r = try CLITests.run(train(["--batch-size", "500"]))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("--batch-size 500 is larger than the 100 training cases; using 100"), r.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("run/config.json")))) as! [String: Any]
        let batches = ((config["hessianFree"] as! [String: Any])["curvatureBatches"] as! [String: Any])
        XCTAssertEqual(String(describing: batches).contains("100"), true, "\(batches)")
        let s = try CLITests.run(train(["--optimizer", "sgd", "--minibatch-size", "1000"], out: "sgd"))
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stderr.contains("--minibatch-size 1000 is larger than the 100 training cases; using 100"), s.stderr)
    }
}
