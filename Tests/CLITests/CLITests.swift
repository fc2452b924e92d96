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

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        if let environment { p.environment = environment }
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
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertFalse(bad.stderr.isEmpty)
    }
}
