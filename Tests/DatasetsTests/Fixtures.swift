import Foundation
import XCTest
@testable import Datasets

/// A fresh temporary directory per test, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes `bytes` to `name` in the temporary directory.
    @discardableResult
    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url
    }

    /// Asserts that `body` throws exactly `expected`.
    func assertThrows<T>(_ expected: DatasetError, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? DatasetError, expected, file: file, line: line)
        }
    }

    /// Asserts that `body` throws a DatasetError whose message contains every one of `parts`.
    func assertThrowsMessage<T>(containing parts: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? DatasetError else { return XCTFail("not a DatasetError: \(error)", file: file, line: line) }
            for part in parts { XCTAssertTrue(e.description.contains(part), "'\(e)' lacks '\(part)'", file: file, line: line) }
            XCTAssertFalse(e.description.contains("\n"), "message is not one line", file: file, line: line)
        }
    }
}

/// Builders of small binary fixtures.
enum Fixture {
    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    /// An IDX file of unsigned bytes.
    static func idx(shape: [Int], values: [UInt8], magic: UInt32? = nil) -> [UInt8] {
        bigEndian(magic ?? (0x800 | UInt32(shape.count))) + shape.flatMap { bigEndian(UInt32($0)) } + values
    }

    /// A P5 PGM file with the given header text.
    static func pgm(header: String, pixels: [UInt8]) -> [UInt8] { Array(header.utf8) + pixels }

    /// An NPY version 1.0 file with a hand-written header dictionary.
    static func npy(header: String, payload: [UInt8]) -> [UInt8] {
        var h = header
        let unpadded = 10 + h.utf8.count + 1
        h += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = h.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xff), UInt8(n >> 8)] + Array(h.utf8) + payload
    }

    static func littleEndianBytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
}
