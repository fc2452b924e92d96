import XCTest
import Foundation
@testable import Datasets

final class SHA256Tests: XCTestCase {
    /// FIPS 180-4's examples (NIST CSRC "SHA256.pdf"): "abc", the empty string, the
    /// two-block message, and a million "a".
    func testKnownDigests() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Streaming in uneven pieces gives the digest of the whole.
    func testChunkedUpdatesEqualOneUpdate() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var h = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 0, 127, 300] where start < bytes.count {
            let end = min(bytes.count, start + size)
            h.update(bytes[start..<end])
            start = end
        }
        h.update(bytes[start...])
        XCTAssertEqual(h.finalize(), SHA256.hex(bytes))
    }

    /// The shipped sums: a file's digest through `SHA256.file`, and the manifests' shape.
    func testFileDigestAndManifests() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hf-sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("abc".utf8).write(to: url)
        let (digest, bytes) = try SHA256.file(url)
        XCTAssertEqual(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(bytes, 3)
        XCTAssertThrowsError(try SHA256.file(url.appendingPathExtension("missing")))
        XCTAssertEqual(DownloadableDataset.mnist.files.count, 4)
        XCTAssertEqual(DownloadableDataset.faces.files.count, 400)
        XCTAssertEqual(Set(DownloadableDataset.faces.files.map(\.path)).count, 400)
        XCTAssertTrue(DownloadableDataset.faces.files.allSatisfy { $0.versions[0].sha256.count == 64 })
        let labels = DownloadableDataset.mnist.files[1]
        XCTAssertTrue(labels.accepts(bytes: 28_881, sha256: "c51906e7929bbf7c824fbd16019b56297269ca82cba449c5b5d59c0a02147fed"))
        XCTAssertFalse(labels.accepts(bytes: 28_880, sha256: "c51906e7929bbf7c824fbd16019b56297269ca82cba449c5b5d59c0a02147fed"))
    }
}
