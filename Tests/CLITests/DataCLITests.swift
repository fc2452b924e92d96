import XCTest
import Foundation

/// `hf data summary|show|export` as a user runs them.
final class DataCLITests: XCTestCase {
    var directory: URL!
    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-data-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The shared data folder beside the package, when this checkout has one.
    static var sharedData: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/data")
    }

    func testCurvesSummaryShowAndExport() throws {
        let cache = directory.appendingPathComponent("cache").path
        let s = try CLITests.run(["data", "summary", "--dataset", "curves", "--cache-dir", cache, "--json", "--pca", "0,18"])
        XCTAssertEqual(s.status, 0, s.stderr)
        let o = try JSONSerialization.jsonObject(with: Data(s.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(o["train"] as? Int, 20000)
        XCTAssertEqual(o["test"] as? Int, 10000)
        XCTAssertEqual(o["dimension"] as? Int, 784)
        let meanImage = (o["mean_image_error"] as! [String: Any])["train"] as! Double
        // The look-alike is fitted to the original's mean-image error (Martens' plateau, ~16.9)
        // and to standard PCA's error with 18 components (5.90, H&S Fig. 2; ours 5.92).
        XCTAssertEqual(meanImage, 16.9, accuracy: 1.0)
        let pca = try XCTUnwrap(o["pca_error"] as? [String: [String: Double]])
        XCTAssertEqual(pca["0"]?["train"] ?? 0, meanImage, accuracy: 1e-9, "no components: the mean image")
        XCTAssertEqual(pca["18"]?["test"] ?? 0, 5.90, accuracy: 0.1)
        let text = try CLITests.run(["data", "summary", "--dataset", "curves", "--cache-dir", cache, "--pca", "18", "--recipe", "1"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("PCA-18 SSE"), text.stdout)
        XCTAssertTrue(text.stderr.contains("curves-v1"), "--recipe 1 builds version 1: \(text.stderr)")
        let png = directory.appendingPathComponent("curves.png").path
        XCTAssertEqual(try CLITests.run(["data", "show", "--dataset", "curves", "--cache-dir", cache, "--out", png]).status, 0)
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: png)).prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let npy = directory.appendingPathComponent("curves.npy").path
        XCTAssertEqual(try CLITests.run(["data", "export", "--dataset", "curves", "--cache-dir", cache, "--split", "test", "--out", npy]).status, 0)
        let header = try Data(contentsOf: URL(fileURLWithPath: npy)).prefix(128)
        XCTAssertTrue(String(decoding: header, as: UTF8.self).contains("(10000, 784)"))
    }

    func testMNISTSummaryFromTheSharedData() throws {
        guard FileManager.default.fileExists(atPath: Self.sharedData.appendingPathComponent("mnist").path) else {
            throw XCTSkip("no ../shared/data/mnist here")
        }
        let s = try CLITests.run(["data", "summary", "--dataset", "mnist", "--data-dir", Self.sharedData.path, "--json"])
        XCTAssertEqual(s.status, 0, s.stderr)
        let o = try JSONSerialization.jsonObject(with: Data(s.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(o["train"] as? Int, 60000)
        // The data README: mean training pixel 33.318 of 255.
        XCTAssertEqual((o["mean"] as! Double) * 255, 33.318, accuracy: 0.001)
    }

    func testBadDataInputs() throws {
        let bad = directory.appendingPathComponent("bad.npy")
        try Data("not an npy file".utf8).write(to: bad)
        let r = try CLITests.run(["data", "summary", "--dataset", bad.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("bad.npy"), r.stderr)
        let u = try CLITests.run(["data", "summary", "--dataset", "nope"])
        XCTAssertNotEqual(u.status, 0)
    }
}
