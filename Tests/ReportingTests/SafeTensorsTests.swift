import XCTest
import Foundation
@testable import Reporting

final class SafeTensorsTests: XCTestCase {
    let weights = SafeTensor(name: "layer1.weight", shape: [2, 3], values: [Float](arrayLiteral: 1, -2, 3.5, .infinity, 0, -0.0))
    let bias = SafeTensor(name: "layer1.bias", shape: [3], values: [0.1, 1e-300, -.infinity] as [Double])
    let scalar = SafeTensor(name: "scale", shape: [], values: [Float(2)])
    let empty = SafeTensor(name: "empty", shape: [0, 4], values: [Float]())

    func testRoundTripKeepsOrderValuesAndMetadata() throws {
        let data = SafeTensors.encode([weights, bias, scalar, empty], metadata: ["format": "hessianfree", "layers": "3-2"])
        let file = try SafeTensors.decode(data, file: "x.safetensors")
        XCTAssertEqual(file.tensors.map(\.name), ["layer1.weight", "layer1.bias", "scale", "empty"])
        XCTAssertEqual(file.metadata, ["format": "hessianfree", "layers": "3-2"])
        XCTAssertEqual(file["layer1.weight"], weights)
        XCTAssertEqual(file["layer1.weight"]?.floats().map(\.bitPattern), [Float](arrayLiteral: 1, -2, 3.5, .infinity, 0, -0.0).map(\.bitPattern))
        XCTAssertEqual(file["layer1.bias"]?.doubles(), [0.1, 1e-300, -.infinity])
        XCTAssertEqual(file["layer1.bias"]?.dtype, .float64)
        XCTAssertEqual(file["scale"]?.shape, [])
        XCTAssertEqual(file["empty"]?.elementCount, 0)
        XCTAssertEqual(file["scale"]?.scalars(as: Double.self), [2])
    }

    func testLayoutMatchesTheFormat() throws {
        let data = SafeTensors.encode([weights, bias])
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0, "header padded to a multiple of 8")
        XCTAssertEqual(data.count, 8 + n + 24 + 24)
        let header = try XCTUnwrap(String(data: data.subdata(in: 8..<(8 + n)), encoding: .utf8))
        XCTAssertTrue(header.hasPrefix("{"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(header.utf8)) as? [String: [String: Any]])
        XCTAssertEqual(object["layer1.weight"]?["dtype"] as? String, "F32")
        XCTAssertEqual(object["layer1.weight"]?["shape"] as? [Int], [2, 3])
        XCTAssertEqual(object["layer1.weight"]?["data_offsets"] as? [Int], [0, 24])
        XCTAssertEqual(object["layer1.bias"]?["data_offsets"] as? [Int], [24, 48])
        XCTAssertNil(object["__metadata__"])
        // Little-endian data: 1.0f is 00 00 80 3f.
        XCTAssertEqual([UInt8](data[(8 + n)..<(8 + n + 4)]), [0x00, 0x00, 0x80, 0x3f])
    }

    func testWriteAndReadFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("sub/parameters.safetensors")
        try SafeTensors.write([weights, bias], metadata: ["step": "7"], to: url)
        let file = try SafeTensors.read(from: url)
        XCTAssertEqual(file.tensors, [weights, bias])
        XCTAssertEqual(file.metadata["step"], "7")
        XCTAssertThrowsError(try SafeTensors.read(from: dir.file("absent.safetensors"))) { error in
            XCTAssertEqual(error as? ReportingError, .missingFile(dir.file("absent.safetensors").path))
        }
    }

    // MARK: malformed files

    /// A file with the given raw header text (padded as a writer would) and data section.
    private func file(header: String, dataBytes: Int, declaredLength: UInt64? = nil) -> Data {
        var json = Data(header.utf8)
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var data = Data()
        withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        data.append(Data(repeating: 0, count: dataBytes))
        return data
    }

    private func assertMalformed(_ data: Data, containing fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(data, file: "bad.safetensors"), line: line) { error in
            guard case ReportingError.malformed(let name, let reason) = error else {
                return XCTFail("expected malformed, got \(error)", line: line)
            }
            XCTAssertEqual(name, "bad.safetensors", line: line)
            XCTAssertTrue(reason.contains(fragment), "\(reason) lacks \(fragment)", line: line)
            XCTAssertTrue("\(error)".hasPrefix("bad.safetensors: "), line: line)
        }
    }

    private func assertTruncated(_ data: Data, expected: Int, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(data, file: "bad.safetensors"), line: line) { error in
            XCTAssertEqual(error as? ReportingError,
                           .truncated("bad.safetensors", expectedBytes: expected, actualBytes: data.count), line: line)
        }
    }

    func testShorterThanTheLengthField() {
        assertTruncated(Data([1, 2, 3]), expected: 8)
    }

    func testHeaderLengthBeyondTheFile() {
        let data = file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4, declaredLength: 4096)
        assertTruncated(data, expected: 8 + 4096)
    }

    func testAbsurdHeaderLength() {
        assertMalformed(file(header: "{}", dataBytes: 0, declaredLength: UInt64.max), containing: "exceeds")
    }

    func testHeaderNotJSON() {
        assertMalformed(file(header: "{not json", dataBytes: 0), containing: "not a JSON object")
        assertMalformed(file(header: "[1, 2]", dataBytes: 0), containing: "not a JSON object")
    }

    func testUnsupportedDType() {
        assertMalformed(file(header: #"{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4),
                        containing: "unsupported dtype BF16")
    }

    func testMissingFieldsAndBadShapes() {
        assertMalformed(file(header: #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4), containing: "missing dtype")
        assertMalformed(file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4), containing: "shape")
        assertMalformed(file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#, dataBytes: 4), containing: "data_offsets")
        assertMalformed(file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, dataBytes: 4), containing: "out of order")
        assertMalformed(file(header: #"{"__metadata__":{"k":1}}"#, dataBytes: 0), containing: "__metadata__")
    }

    func testShapeDisagreesWithByteCount() {
        assertMalformed(file(header: #"{"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,16]}}"#, dataBytes: 16),
                        containing: "shape [2, 2] of F64 needs 32 bytes, data_offsets span 16")
    }

    func testOffsetsPastTheEndMeanTruncatedData() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let complete = file(header: header, dataBytes: 16)
        XCTAssertNoThrow(try SafeTensors.decode(complete, file: "bad.safetensors"))
        assertTruncated(complete.prefix(complete.count - 5), expected: complete.count)
    }

    func testOverlapsHolesAndUncoveredBytes() {
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertMalformed(file(header: overlap, dataBytes: 12), containing: "overlaps")
        let hole = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertMalformed(file(header: hole, dataBytes: 12), containing: "hole of 4 bytes")
        let trailing = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertMalformed(file(header: trailing, dataBytes: 8), containing: "4 bytes not covered")
    }
}

/// Optimizer state with the kinds of values a resume needs exactly.
private struct ExampleOptimizerState: Codable, Equatable {
    var lambda: Double
    var previousDirection: [Float]
    var permutation: [Int]
    var position: Int
    var randomState: [UInt64]
    var lastRho: Double
}

/// A state whose encoding always fails: stands in for a write that breaks half way.
private struct UnencodableState: Codable {
    struct Refused: Error {}
    func encode(to encoder: Encoder) throws { throw Refused() }
    init() {}
    init(from decoder: Decoder) throws {}
}

final class CheckpointTests: XCTestCase {
    private func checkpoint(_ lambda: Double) -> Checkpoint<ExampleOptimizerState> {
        Checkpoint(tensors: [SafeTensor(name: "w", shape: [2, 2], values: [Float](arrayLiteral: 1, 2, 3, Float(lambda)))],
                   metadata: ["iteration": "\(Int(lambda))"],
                   optimizerState: ExampleOptimizerState(lambda: lambda, previousDirection: [0.1, -0.2],
                                                         permutation: [2, 0, 1], position: 1,
                                                         randomState: [.max, 0x9E37_79B9_7F4A_7C15], lastRho: -.infinity))
    }

    private func visibleAndHiddenEntries(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted()
    }

    func testRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.file("checkpoint")
        try checkpoint(1).write(to: target)
        XCTAssertEqual(try Checkpoint<ExampleOptimizerState>.read(from: target), checkpoint(1))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path).sorted(),
                       ["optimizer_state.json", "parameters.safetensors"])
    }

    func testReplaceSwapsTheWholeCheckpointAndLeavesNoTemporaries() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.file("checkpoint")
        try checkpoint(1).write(to: target)
        try checkpoint(2).write(to: target)
        XCTAssertEqual(try Checkpoint<ExampleOptimizerState>.read(from: target), checkpoint(2))
        XCTAssertEqual(try visibleAndHiddenEntries(dir), ["checkpoint"])
    }

    func testFailedWriteLeavesTheOldCheckpointIntact() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.file("checkpoint")
        try checkpoint(1).write(to: target)
        let broken = Checkpoint(tensors: [SafeTensor(name: "w", shape: [1], values: [Float(9)])],
                                optimizerState: UnencodableState())
        XCTAssertThrowsError(try broken.write(to: target)) { error in
            guard case ReportingError.io(let file, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, target.path)
        }
        XCTAssertEqual(try Checkpoint<ExampleOptimizerState>.read(from: target), checkpoint(1))
        XCTAssertEqual(try visibleAndHiddenEntries(dir), ["checkpoint"])
    }

    func testInterruptedReplaceFallsBackToThePreviousCopy() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.file("checkpoint")
        try checkpoint(1).write(to: target)
        // The state between the two renames: old moved aside, new not yet in place.
        try FileManager.default.moveItem(at: target, to: dir.file(".checkpoint.previous"))
        XCTAssertEqual(try Checkpoint<ExampleOptimizerState>.read(from: target), checkpoint(1))
        // The next write cleans up.
        try checkpoint(3).write(to: target)
        XCTAssertEqual(try Checkpoint<ExampleOptimizerState>.read(from: target), checkpoint(3))
        XCTAssertEqual(try visibleAndHiddenEntries(dir), ["checkpoint"])
    }

    func testStalePartialDirectoriesAreRemoved() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(at: dir.file(".checkpoint.partial-1-2"), withIntermediateDirectories: false)
        try checkpoint(1).write(to: dir.file("checkpoint"))
        XCTAssertEqual(try visibleAndHiddenEntries(dir), ["checkpoint"])
    }

    func testReadErrorsAreClear() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let target = dir.file("checkpoint")
        XCTAssertThrowsError(try Checkpoint<ExampleOptimizerState>.read(from: target)) { error in
            XCTAssertEqual(error as? ReportingError, .missingFile(target.path))
        }
        try checkpoint(1).write(to: target)
        let state = target.appendingPathComponent("optimizer_state.json")
        try FileManager.default.removeItem(at: state)
        XCTAssertThrowsError(try Checkpoint<ExampleOptimizerState>.read(from: target)) { error in
            XCTAssertEqual(error as? ReportingError, .missingFile(state.path))
            XCTAssertEqual("\(error)", "\(state.path): no such file")
        }
        try "{}".write(to: state, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Checkpoint<ExampleOptimizerState>.read(from: target)) { error in
            guard case ReportingError.malformed(let file, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, state.path)
        }
        let notADirectory = dir.file("plain")
        try "x".write(to: notADirectory, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Checkpoint<ExampleOptimizerState>.read(from: notADirectory)) { error in
            guard case ReportingError.malformed(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("not a checkpoint directory"))
        }
    }
}
