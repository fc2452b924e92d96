import XCTest
import Foundation
import Datasets
import LinearAlgebra

/// Data-parallel training under `mpirun` (issue 13), against one-process runs.
///
/// Tolerance. P ranks add the same per-case terms as one process, in another order: each rank
/// sums its block in chunks, then the ranks' partial sums are added in rank order. Float
/// gradients and curvature products therefore differ from the one-process values by a few
/// Float roundings (relative ~1e-7), and the objective (summed in Double) by less. While the
/// runs take the same discrete decisions, that moves the objective and the errors by less
/// than `tolerance` (relative 1e-5; measured on this problem: at most 1e-7; on the CURVES
/// preset ~1e-9 over 3 iterations). Two logged values are differences of nearly equal sums
/// and carry that noise amplified: rho = (f(theta + p) - f(theta)) / q(p), by |f| / |Δf|
/// (up to ~100 here), and the gradient norm, a sum of per-case gradients much larger than
/// their mean; they are held to `cancellationTolerance` (relative 1e-3; measured: 2e-5).
///
/// One decision can flip on that noise: CG-iterate backtracking (section 4.6) takes the
/// argmin of the objective over the stored iterates, and late iterates often tie to within
/// 1e-7. A flip swaps one almost equally good step for another (measured here: the objective
/// then moves by 1e-5, the gradient norm by 6e-4), so the cross-P comparisons run with
/// `--no-backtracking`; the same-P test keeps it on and asks for identical bits.
final class ParallelCLITests: XCTestCase {
    static let tolerance = 1e-5
    static let cancellationTolerance = 1e-3
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 13)
        for (name, rows) in [("train.npy", 301), ("test.npy", 51), ("one-test-case.npy", 1)] {
            let values = (0..<(rows * 16)).map { _ in Float(g.uniform() < 0.3 ? 1 : 0) }
            try NPY.write(Matrix(rows: rows, columns: 16, elements: values), to: directory.appendingPathComponent(name))
        }
        // The same training set with a NaN in its last case, which only the last rank reads.
        var bad = (0..<(301 * 16)).map { _ in Float(g.uniform() < 0.3 ? 1 : 0) }
        bad[300 * 16 + 5] = .nan
        try NPY.write(Matrix(rows: 301, columns: 16, elements: bad), to: directory.appendingPathComponent("bad.npy"))
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func arguments(out: String, iterations: Int, data: String = "train.npy", backtracking: Bool = true) -> [String] {
        ["train", "--data", path(data), "--test-data", path("test.npy"), "--layers", "16-8-3", "--mirror",
         "--batch-size", "100", "--initial-lambda", "1", "--max-iterations", String(iterations), "--checkpoint-interval", "2",
         "--threads", "1", "--quiet", "--out", out] + (backtracking ? [] : ["--no-backtracking"])
    }

    /// `mpirun` on PATH; the test fails (it does not skip) without it: `make test` installs it.
    static func mpirun() throws -> URL {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        XCTFail("mpirun is not installed (Debian: openmpi-bin); `make deps` installs it")
        throw CocoaError(.fileNoSuchFile)
    }

    /// Runs `mpirun --allow-run-as-root --oversubscribe` with `layout` (one `-np N [-wdir D]
    /// hf ARGS` program per entry, joined by ':'), killing it after `timeout` seconds.
    static func mpi(_ layout: [(ranks: Int, directory: String?, arguments: [String])], timeout: Double = 300)
    throws -> (status: Int32, stdout: String, stderr: String, timedOut: Bool) {
        let p = Process()
        p.executableURL = try mpirun()
        var args = ["--allow-run-as-root", "--oversubscribe"]
        for (k, program) in layout.enumerated() {
            if k > 0 { args.append(":") }
            args += ["-np", String(program.ranks)]
            if let d = program.directory { args += ["-wdir", d] }
            args += [CLITests.binary.path] + program.arguments
        }
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        // Both pipes are drained on other threads (a full pipe would block mpirun) while this
        // one waits for them with a deadline.
        final class Output: @unchecked Sendable { var data = Data() }
        let (o, e) = (Output(), Output())
        let (oh, eh) = (out.fileHandleForReading, err.fileHandleForReading)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { o.data = oh.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { e.data = eh.readDataToEndOfFile() }
        var timedOut = false
        if group.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            p.terminate()
            _ = group.wait(timeout: .now() + 30)
        }
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o.data, as: UTF8.self), String(decoding: e.data, as: UTF8.self), timedOut)
    }

    static func mpi(ranks: Int, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String, timedOut: Bool) {
        try mpi([(ranks, nil, arguments)])
    }

    static func metrics(_ folder: String) throws -> [[String: Any]] {
        try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// The trajectories agree: same discrete decisions, values within `tolerance` (relative).
    func assertSameTrajectory(_ a: [[String: Any]], _ b: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "iterations", file: file, line: line)
        for (x, y) in zip(a, b) {
            for key in ["iteration", "cg_iterations", "cg_chosen", "curvature_products"] {
                XCTAssertEqual(x[key] as? Int, y[key] as? Int, "\(key) at iteration \(x["iteration"] ?? "?")", file: file, line: line)
            }
            for key in ["train_loss", "train_error", "test_error", "gradient_norm", "lambda", "rho"] {
                guard let u = x[key] as? Double, let v = y[key] as? Double else {
                    XCTFail("\(key) missing or not a number", file: file, line: line); continue
                }
                let tolerance = key == "rho" || key == "gradient_norm" ? Self.cancellationTolerance : Self.tolerance
                XCTAssertLessThanOrEqual(abs(u - v), tolerance * max(abs(u), 1e-12),
                                         "\(key) at iteration \(x["iteration"] ?? "?"): \(u) vs \(v)", file: file, line: line)
            }
        }
    }

    func testTwoRanksFollowTheOneProcessTrajectoryAndOnlyRankZeroWrites() throws {
        let single = path("single")
        let s = try CLITests.run(arguments(out: single, iterations: 4, backtracking: false))
        XCTAssertEqual(s.status, 0, s.stderr)

        // Rank 0 runs in r0/ and rank 1 in r1/, both with the relative --out run: whatever
        // rank 1 wrote would land in r1/.
        let (r0, r1) = (path("r0"), path("r1"))
        for d in [r0, r1] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let json = arguments(out: "run", iterations: 4, backtracking: false).filter { $0 != "--quiet" } + ["--json"]
        let m = try Self.mpi([(1, r0, json), (1, r1, json)])
        XCTAssertFalse(m.timedOut, "mpirun hung")
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertEqual(m.stdout.split(separator: "\n").count, 4, "one JSON line per iteration, from rank 0 only:\n\(m.stdout)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: r1), [], "rank 1 wrote nothing")
        for file in ["config.json", "metrics.jsonl", "checkpoint/parameters.safetensors", "checkpoint/optimizer_state.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: r0 + "/run/" + file), file)
        }
        let parallel = try Self.metrics(r0 + "/run")
        assertSameTrajectory(try Self.metrics(single), parallel)
        XCTAssertEqual(parallel.map { $0["ranks"] as? Int }, Array(repeating: 2, count: 4), "metrics record the rank count")
        XCTAssertEqual(try Self.metrics(single).first?["ranks"] as? Int, 1)
    }

    func testTheSameRankCountIsBitIdentical() throws {
        var runs: [(metrics: [[String: Any]], parameters: Data)] = []
        for name in ["a", "b"] {
            let m = try Self.mpi(ranks: 2, arguments(out: path(name), iterations: 3))
            XCTAssertFalse(m.timedOut, "mpirun hung")
            XCTAssertEqual(m.status, 0, m.stderr)
            runs.append((try Self.metrics(path(name)), try Data(contentsOf: URL(fileURLWithPath: path(name) + "/checkpoint/parameters.safetensors"))))
        }
        XCTAssertEqual(runs[0].parameters, runs[1].parameters, "final parameters bit for bit")
        for (x, y) in zip(runs[0].metrics, runs[1].metrics) {
            for key in ["train_loss", "train_error", "test_error", "gradient_norm", "lambda", "rho"] {
                XCTAssertEqual(x[key] as? Double, y[key] as? Double, key)
            }
        }
    }

    func testResumeAcrossRankCounts() throws {
        let straight = path("straight")
        XCTAssertEqual(try CLITests.run(arguments(out: straight, iterations: 4, backtracking: false)).status, 0)
        let expected = try Self.metrics(straight)

        // 1 process for 2 iterations, then 2 ranks to 4.
        let up = path("up")
        XCTAssertEqual(try CLITests.run(arguments(out: up, iterations: 2, backtracking: false)).status, 0)
        let u = try Self.mpi(ranks: 2, ["train", "--resume", up, "--max-iterations", "4", "--quiet"])
        XCTAssertFalse(u.timedOut, "mpirun hung")
        XCTAssertEqual(u.status, 0, u.stderr)
        assertSameTrajectory(expected, try Self.metrics(up))

        // 2 ranks for 2 iterations, then 1 process to 4.
        let down = path("down")
        let d = try Self.mpi(ranks: 2, arguments(out: down, iterations: 2, backtracking: false))
        XCTAssertEqual(d.status, 0, d.stderr)
        let r = try CLITests.run(["train", "--resume", down, "--max-iterations", "4", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try Self.metrics(down)
        assertSameTrajectory(expected, m)
        XCTAssertEqual(m.map { $0["ranks"] as? Int }, [2, 2, 1, 1])
    }

    /// A test set smaller than the rank count leaves rank 1 without test cases; every rank
    /// must still choose by the test error and stop where one process does.
    func testPaperStyleStopWithATestSetSomeRanksDoNotHold() throws {
        var args = arguments(out: path("one"), iterations: 40, backtracking: false)
        args[args.firstIndex(of: path("test.npy"))!] = path("one-test-case.npy")
        args += ["--paper-style-stop", "2"]
        XCTAssertEqual(try CLITests.run(args).status, 0)
        let one = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("one") + "/summary.json"))) as! [String: Any]
        XCTAssertEqual(one["stop_reason"] as? String, "early-stopping", "\(one)")
        XCTAssertEqual(one["selected_by"] as? String, "test")

        args[args.firstIndex(of: path("one"))!] = path("two")
        let m = try Self.mpi(ranks: 2, args)
        XCTAssertFalse(m.timedOut, "mpirun hung")
        XCTAssertEqual(m.status, 0, m.stderr)
        let two = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("two") + "/summary.json"))) as! [String: Any]
        for key in ["stop_reason", "selected_by"] { XCTAssertEqual(two[key] as? String, one[key] as? String, key) }
        for key in ["iterations", "best_iteration"] { XCTAssertEqual(two[key] as? Int, one[key] as? Int, key) }
    }

    /// --test-once's one measurement is collective: every rank takes part, with the best
    /// parameters each holds, and the result is what one process measures for best/ (the
    /// trajectories themselves drift apart by float noise over the iterations, ~1e-4 here).
    func testTestOnceMeasuresOnEveryRank() throws {
        var args = arguments(out: path("once1"), iterations: 40, backtracking: false)
        args += ["--validation-split", "60", "--early-stopping", "2", "--test-once"]
        XCTAssertEqual(try CLITests.run(args).status, 0)
        args[args.firstIndex(of: path("once1"))!] = path("once2")
        let m = try Self.mpi(ranks: 2, args)
        XCTAssertFalse(m.timedOut, "mpirun hung")
        XCTAssertEqual(m.status, 0, m.stderr)
        var summaries: [[String: Any]] = []
        for name in ["once1", "once2"] {
            summaries.append(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(name) + "/summary.json"))) as! [String: Any])
        }
        XCTAssertEqual(summaries[1]["test_measured_once"] as? Bool, true, "\(summaries[1])")
        XCTAssertEqual(summaries[1]["best_iteration"] as? Int, summaries[0]["best_iteration"] as? Int)
        let measured = (summaries[1]["best"] as! [String: Any])["test_error"] as! Double
        let e = try CLITests.run(["evaluate", "--checkpoint", path("once2") + "/best", "--json", "--threads", "1"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let test = (try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any])["test"] as! [String: Any]
        XCTAssertEqual(test["reconstruction_error"] as! Double, measured, accuracy: Self.tolerance * measured)
    }

    func testARankFailingOnBadDataEndsEveryRankWithAMessage() throws {
        let out = path("bad-run")
        let m = try Self.mpi([(2, nil, arguments(out: out, iterations: 2, data: "bad.npy"))], timeout: 120)
        XCTAssertFalse(m.timedOut, "a failing rank must not leave the others waiting")
        XCTAssertNotEqual(m.status, 0)
        XCTAssertTrue(m.stderr.contains("rank 1 of 2"), m.stderr)
        XCTAssertTrue(m.stderr.contains("bad.npy: row 301, column 6: value is not finite"), m.stderr)
        XCTAssertFalse(m.stderr.contains("rank 0 of 2"), "rank 0 read only good rows:\n\(m.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing is written when a rank fails during set-up")
    }

    func testParallelBenchmarkReportsEfficiencies() throws {
        let m = try Self.mpi(ranks: 2, ["bench-mpi", "--cases", "120", "--batch", "40", "--cg-iterations", "2", "--repeats", "1", "--json"])
        XCTAssertFalse(m.timedOut, "mpirun hung")
        XCTAssertEqual(m.status, 0, m.stderr)
        let lines = m.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one JSON object, from rank 0:\n\(m.stdout)")
        let report = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(report["ranks"] as? Int, 2)
        XCTAssertEqual(report["allreduce_floats"] as? Int, report["parameters"] as? Int)
        for key in ["gradient_efficiency", "gv_efficiency", "iteration_efficiency", "allreduce_seconds", "mpi_allreduce_seconds"] {
            let v = report[key] as? Double ?? -1
            XCTAssertTrue(v > 0 && v.isFinite, "\(key) = \(v)")
        }
        let one = report["one_rank"] as! [String: Any], all = report["all_ranks"] as! [String: Any]
        XCTAssertEqual(one["iteration_cg_steps"] as? Int, 2)
        XCTAssertEqual(all["iteration_cg_steps"] as? Int, 2)
    }

    func testBenchmarkRefusesToRunWithoutMPI() throws {
        let r = try CLITests.run(["bench-mpi", "--cases", "10", "--batch", "5"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("mpirun"), r.stderr)
    }
}
