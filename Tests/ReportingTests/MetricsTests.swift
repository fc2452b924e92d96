import XCTest
import Foundation
@testable import Reporting

/// A record with every field set, including the optimizer-specific ones.
func sampleRecord(iteration: Int = 3, testError: Double? = 2.5, rho: Double = 0.8) -> MetricsRecord {
    var r = MetricsRecord(iteration: iteration, seconds: 12.25, trainLoss: 40.125, trainError: 3.5, testError: testError,
                          lambda: 0.6666666666666666, rho: rho, cgIterations: 42, cgChosen: 37,
                          gradientEvaluations: 1, curvatureProducts: 43, gflops: 1.75, optimizer: "hf",
                          lineSearchRate: 1, cgStopReason: "relativeProgress", gradientNorm: 0.1,
                          validationError: 2.75)
    r.modelChange = -0.0283736147
    r.rhoFullData = 0.3125
    return r
}

final class MetricsRecordTests: XCTestCase {
    func testKeysAreSnakeCase() throws {
        let json = try XCTUnwrap(String(data: try JSONEncoder().encode(sampleRecord()), encoding: .utf8))
        for key in ["iteration", "seconds", "train_loss", "train_error", "test_error", "lambda", "rho",
                    "cg_iterations", "cg_chosen", "gradient_evaluations", "curvature_products", "gflops",
                    "optimizer", "line_search_rate", "cg_stop_reason", "gradient_norm", "validation_error",
                    "model_change", "rho_full_data"] {
            XCTAssertTrue(json.contains("\"\(key)\":"), "missing key \(key) in \(json)")
        }
    }

    func testRoundTripIsExact() throws {
        let record = sampleRecord()
        let data = try JSONCoding.encoder(pretty: false).encode(record)
        let back = try JSONCoding.decoder().decode(MetricsRecord.self, from: data)
        XCTAssertEqual(back, record)
        XCTAssertEqual(back.lambda.bitPattern, record.lambda.bitPattern)
    }

    func testNonFiniteValuesRoundTripAsStringsEvenWithPlainCoders() throws {
        var record = sampleRecord(rho: -.infinity)
        record.lambda = .infinity
        record.gflops = .nan
        record.testError = .nan
        // A plain JSONEncoder throws on non-finite Doubles; the record's own coding avoids that.
        let data = try JSONEncoder().encode(record)
        let text = try XCTUnwrap(String(data: data, encoding: .utf8))
        XCTAssertTrue(text.contains("\"rho\":\"-inf\""), text)
        XCTAssertTrue(text.contains("\"lambda\":\"inf\""), text)
        XCTAssertTrue(text.contains("\"gflops\":\"nan\""), text)
        let back = try JSONDecoder().decode(MetricsRecord.self, from: data)
        XCTAssertEqual(back.rho, -.infinity)
        XCTAssertEqual(back.lambda, .infinity)
        XCTAssertTrue(back.gflops.isNaN)
        XCTAssertTrue(try XCTUnwrap(back.testError).isNaN)
        XCTAssertEqual(back, record)
    }

    func testOptionalFieldsAreOmittedWhenNilAndNullIsAccepted() throws {
        let record = MetricsRecord(iteration: 1, seconds: 0.5, trainLoss: 1, trainError: 1, lambda: 1, rho: 0.5,
                                   cgIterations: 10, cgChosen: 10, gradientEvaluations: 1, curvatureProducts: 10, gflops: 0)
        let text = try XCTUnwrap(String(data: try JSONCoding.encoder(pretty: false).encode(record), encoding: .utf8))
        XCTAssertFalse(text.contains("test_error"), text)
        XCTAssertFalse(text.contains("optimizer"), text)
        let withNull = text.replacingOccurrences(of: "}", with: ",\"test_error\":null}")
        XCTAssertEqual(try JSONCoding.decoder().decode(MetricsRecord.self, from: Data(withNull.utf8)), record)
    }

    func testBadNumberStringIsRejected() {
        let json = #"{"iteration":1,"seconds":1,"train_loss":1,"train_error":1,"lambda":"big","rho":1,"cg_iterations":1,"cg_chosen":1,"gradient_evaluations":1,"curvature_products":1,"gflops":1}"#
        XCTAssertThrowsError(try JSONDecoder().decode(MetricsRecord.self, from: Data(json.utf8)))
    }

    func testGflops() {
        XCTAssertEqual(MetricsRecord.gflops(flops: 3e9, seconds: 1.5), 2)
        XCTAssertEqual(MetricsRecord.gflops(flops: 3e9, seconds: 0), 0)
    }
}

final class MetricsLogTests: XCTestCase {
    func testAppendThenRead() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("run/metrics.jsonl")
        let records = (1...5).map { sampleRecord(iteration: $0, testError: $0 % 2 == 0 ? Double($0) : nil,
                                                 rho: $0 == 3 ? -.infinity : 0.5) }
        do {
            let log = try MetricsLog(appendingTo: url)
            for record in records.prefix(3) { try log.append(record) }
        }
        // Lines are on disk as soon as `append` returns, and reopening appends after them.
        XCTAssertEqual(try MetricsLog.read(from: url), Array(records.prefix(3)))
        let log = try MetricsLog(appendingTo: url)
        for record in records.suffix(2) { try log.append(record) }
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 5)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertEqual(try MetricsLog.read(from: url), records)
    }

    func testTruncatedLastLineIsDroppedAndCutBeforeAppending() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("metrics.jsonl")
        do {
            let log = try MetricsLog(appendingTo: url)
            try log.append(sampleRecord(iteration: 1))
            try log.append(sampleRecord(iteration: 2))
        }
        // A crash in the middle of the third write.
        let partial = Data(#"{"iteration":3,"seconds":1"#.utf8)
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: partial)
        try handle.close()

        let contents = try MetricsLog.readContents(from: url)
        XCTAssertEqual(contents.records.map(\.iteration), [1, 2])
        XCTAssertTrue(contents.droppedTruncatedLastLine)

        let log = try MetricsLog(appendingTo: url)
        try log.append(sampleRecord(iteration: 3))
        let repaired = try MetricsLog.readContents(from: url)
        XCTAssertEqual(repaired.records.map(\.iteration), [1, 2, 3])
        XCTAssertFalse(repaired.droppedTruncatedLastLine)
    }

    func testMalformedMiddleLineIsAnErrorNamingFileAndLine() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("metrics.jsonl")
        let good = String(data: try JSONEncoder().encode(sampleRecord()), encoding: .utf8)!
        try "\(good)\nnot json\n\(good)\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try MetricsLog.read(from: url)) { error in
            guard case ReportingError.malformedLine(let file, let line, _) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(file, url.path)
            XCTAssertEqual(line, 2)
            XCTAssertTrue("\(error)".hasPrefix("\(url.path): line 2:"))
        }
    }

    func testMissingFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("absent.jsonl")
        XCTAssertThrowsError(try MetricsLog.read(from: url)) { error in
            XCTAssertEqual(error as? ReportingError, .missingFile(url.path))
        }
    }

    func testTruncateKeepsIterationsThroughCheckpoint() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("metrics.jsonl")
        let log = try MetricsLog(appendingTo: url)
        for i in 1...6 { try log.append(sampleRecord(iteration: i)) }
        XCTAssertEqual(try MetricsLog.truncate(url, keepingIterationsThrough: 4), 4)
        XCTAssertEqual(try MetricsLog.read(from: url).map(\.iteration), [1, 2, 3, 4])
    }
}

/// A configuration-like value with the numbers a resume must get back bit for bit.
private struct ExampleConfiguration: Codable, Equatable {
    var preset: String
    var layers: [Int]
    var weightCost: Double
    var seed: UInt64
    var initialLambda: Double
}

final class JSONFileTests: XCTestCase {
    func testConfigurationRoundTripPrettySortedAndAtomic() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let run = RunFolder(dir.url.appendingPathComponent("run"))
        let configuration = ExampleConfiguration(preset: "curves", layers: [784, 400, 6], weightCost: 1e-4,
                                                 seed: .max, initialLambda: .infinity)
        try run.writeConfiguration(configuration)
        XCTAssertEqual(try run.readConfiguration(ExampleConfiguration.self), configuration)
        let text = try String(contentsOf: run.configuration, encoding: .utf8)
        XCTAssertTrue(text.contains("\n  \"initialLambda\" : \"inf\""), text)
        let keys = ["initialLambda", "layers", "preset", "seed", "weightCost"].map { text.range(of: "\"\($0)\"")!.lowerBound }
        XCTAssertEqual(keys, keys.sorted(), "keys are sorted")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run.url.path), ["config.json"])
    }

    func testReadErrorsNameTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("config.json")
        XCTAssertThrowsError(try JSONFile.read(ExampleConfiguration.self, from: url)) { error in
            XCTAssertEqual(error as? ReportingError, .missingFile(url.path))
        }
        try #"{"preset": "curves"}"#.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try JSONFile.read(ExampleConfiguration.self, from: url)) { error in
            guard case ReportingError.malformed(let file, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertTrue(reason.contains("layers"), reason)
        }
    }
}

final class ReportingErrorTests: XCTestCase {
    func testMessagesAreOneLineNamingTheFile() {
        let errors: [ReportingError] = [
            .missingFile("/r/config.json"), .io("/r/config.json", reason: "permission denied"),
            .truncated("/r/p.safetensors", expectedBytes: 100, actualBytes: 10),
            .malformed("/r/p.safetensors", reason: "bad"), .malformedLine("/r/metrics.jsonl", line: 3, reason: "bad"),
        ]
        for error in errors {
            XCTAssertTrue(error.description.hasPrefix("/r/"), error.description)
            XCTAssertFalse(error.description.contains("\n"))
            XCTAssertEqual(error.localizedDescription, error.description)
        }
        XCTAssertEqual(ReportingError.truncated("f", expectedBytes: 100, actualBytes: 10).description,
                       "f: truncated: expected 100 bytes, found 10")
    }
}

final class MetricsLineTests: XCTestCase {
    func testLineIsWhatTheLogWrites() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.file("metrics.jsonl")
        let log = try MetricsLog(appendingTo: url, synchronizeEachLine: true)
        let record = sampleRecord(rho: -.infinity)
        try log.append(record)
        let line = try MetricsLog.line(for: record)
        XCTAssertFalse(line.contains("\n"))
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), line + "\n")
    }
}
