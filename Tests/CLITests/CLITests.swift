import XCTest
import Foundation

/// End-to-end tests: run the built `hf` binary as a user would.
final class CLITests: XCTestCase {
    /// The `hf` product built beside the test bundle (.build/<triple>/<config>/).
    static var binary: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("hf")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return executable.appendingPathComponent("hf")
    }

    /// Runs `hf` with `arguments`, optionally in `directory`, with extra `environment` variables
    /// or with exactly the variables of `replacingEnvironment`.
    @discardableResult
    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                    replacingEnvironment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        if let replacingEnvironment { p.environment = replacingEnvironment }
        if !environment.isEmpty { p.environment = (replacingEnvironment ?? ProcessInfo.processInfo.environment).merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testVersionAndBadFlag() throws {
        let v = try Self.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertFalse(v.stdout.isEmpty)
        let bad = try Self.run(["--no-such-flag"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertFalse(bad.stderr.isEmpty)
    }

    /// Asserts that a failed run printed exactly one line, `hf: error: ...` containing
    /// `expected`, and nothing that belongs to Foundation or a crash.
    static func assertOneErrorLine(_ stderr: String, contains expected: String, _ context: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        let errors = stderr.split(separator: "\n").filter { $0.hasPrefix("hf: error:") || $0.contains("rror:") }
        XCTAssertEqual(errors.count, 1, "\(context): \(stderr)", file: file, line: line)
        XCTAssertTrue(errors.first?.hasPrefix("hf: error: ") ?? false, "\(context): \(stderr)", file: file, line: line)
        XCTAssertTrue(stderr.contains(expected), "\(context): expected '\(expected)' in \(stderr)", file: file, line: line)
        for forbidden in ["Error Domain", "NSCocoaErrorDomain", "UserInfo", ".tmp-", "Fatal error", "Usage:", "Error: "] {
            XCTAssertFalse(stderr.contains(forbidden), "\(context): '\(forbidden)' in \(stderr)", file: file, line: line)
        }
    }
}
