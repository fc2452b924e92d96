import Foundation
import XCTest
import LinearAlgebra
@testable import Datasets

final class IDXTests: TemporaryDirectoryTestCase {
    /// Two 2x3 images and their labels, in the directory under both plain names.
    func writeSmallMNIST(dot: Bool, gzip: Bool) throws {
        let sep = dot ? "." : "-"
        func out(_ bytes: [UInt8], _ name: String) throws {
            try write(gzip ? FileBytes.gzip(bytes) : bytes, name + (gzip ? ".gz" : ""))
        }
        try out(Fixture.idx(shape: [2, 2, 3], values: [0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6]), "train-images\(sep)idx3-ubyte")
        try out(Fixture.idx(shape: [2], values: [7, 3]), "train-labels\(sep)idx1-ubyte")
        try out(Fixture.idx(shape: [1, 2, 3], values: [255, 0, 0, 0, 0, 255]), "t10k-images\(sep)idx3-ubyte")
        try out(Fixture.idx(shape: [1], values: [9]), "t10k-labels\(sep)idx1-ubyte")
    }

    func testReadsAllFourSpellings() throws {
        for (dot, gzip) in [(false, false), (true, false), (false, true), (true, true)] {
            try setUpWithError()
            try writeSmallMNIST(dot: dot, gzip: gzip)
            let d = try MNIST.load(from: directory)
            XCTAssertEqual(d.train.rows, 2); XCTAssertEqual(d.test.rows, 1); XCTAssertEqual(d.dimension, 6)
            XCTAssertEqual(d.imageWidth, 3); XCTAssertEqual(d.imageHeight, 2)
            XCTAssertEqual(Array(d.train.storage[0..<6]), [0, 0.2, 0.4, 0.6, 0.8, 1])
            XCTAssertEqual(d.trainLabels, [7, 3]); XCTAssertEqual(d.testLabels, [9])
            XCTAssertTrue(d.isAutoencoder)
            try tearDownWithError()
        }
    }

    func testMissingFileIsNamed() throws {
        try writeSmallMNIST(dot: false, gzip: false)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        assertThrowsMessage(containing: ["t10k-labels-idx1-ubyte", "no such file"]) { try MNIST.load(from: directory) }
    }

    func testWrongMagic() throws {
        let url = try write(Fixture.idx(shape: [2], values: [1, 2], magic: 0x803), "labels")
        assertThrows(.badMagic(url.path, found: 0x803, expected: 0x801)) { try IDXArray.read(url, dimensions: 1) }
    }

    func testTruncatedData() throws {
        let url = try write(Fixture.idx(shape: [2, 2, 2], values: [1, 2, 3]), "images")
        assertThrows(.truncated(url.path, expectedBytes: 16 + 8, actualBytes: 16 + 3)) { try IDXArray.read(url, dimensions: 3) }
    }

    func testTruncatedHeader() throws {
        let url = try write(Array(Fixture.idx(shape: [2, 2, 2], values: []).prefix(9)), "images")
        assertThrows(.truncated(url.path, expectedBytes: 16, actualBytes: 9)) { try IDXArray.read(url, dimensions: 3) }
    }

    func testSizesDisagreeingWithFileLength() throws {
        let url = try write(Fixture.idx(shape: [1, 2, 2], values: [1, 2, 3, 4, 5]), "images")
        assertThrowsMessage(containing: [url.path, "1x2x2", "file has 21 bytes"]) { try IDXArray.read(url, dimensions: 3) }
    }

    func testZeroSizeIsMalformed() throws {
        let url = try write(Fixture.idx(shape: [0, 28, 28], values: []), "images")
        assertThrowsMessage(containing: [url.path, "dimension 1 has size 0"]) { try IDXArray.read(url, dimensions: 3) }
    }

    func testEmptyFile() throws {
        let url = try write([], "images")
        assertThrows(.malformed(url.path, reason: "empty file")) { try IDXArray.read(url, dimensions: 3) }
    }

    func testTruncatedGzip() throws {
        let full = FileBytes.gzip(Fixture.idx(shape: [100], values: (0..<100).map { UInt8($0 % 10) }))
        let url = try write(Array(full.prefix(full.count - 12)), "labels.gz")
        assertThrowsMessage(containing: [url.path, "truncated gzip"]) { try IDXArray.read(url, dimensions: 1) }
    }

    func testLabelCountMustMatchImages() throws {
        try writeSmallMNIST(dot: false, gzip: false)
        try write(Fixture.idx(shape: [3], values: [1, 2, 3]), "train-labels-idx1-ubyte")
        assertThrowsMessage(containing: ["train-labels-idx1-ubyte", "3 labels for 2 images"]) { try MNIST.load(from: directory) }
    }

    func testLabelOutOfRange() throws {
        try writeSmallMNIST(dot: false, gzip: false)
        try write(Fixture.idx(shape: [2], values: [1, 12]), "train-labels-idx1-ubyte")
        assertThrowsMessage(containing: ["label 12 of case 2"]) { try MNIST.load(from: directory) }
    }

    func testDirectoryIsNotAFile() throws {
        let url = directory.appendingPathComponent("sub")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        assertThrows(.unreadable(url.path, reason: "is a directory")) { try IDXArray.read(url, dimensions: 1) }
    }
}
