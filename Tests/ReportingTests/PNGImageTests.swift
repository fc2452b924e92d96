import CZlib
import Foundation
import XCTest
import LinearAlgebra
@testable import Reporting

final class PNGImageTests: XCTestCase {
    /// The chunks of a PNG file: (type, body), checking each CRC on the way.
    func chunks(_ data: [UInt8]) throws -> [(String, [UInt8])] {
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        var result = [(String, [UInt8])]()
        var i = 8
        func word(_ at: Int) -> Int { Int(data[at]) << 24 | Int(data[at + 1]) << 16 | Int(data[at + 2]) << 8 | Int(data[at + 3]) }
        while i + 12 <= data.count {
            let length = word(i)
            let typeAndBody = Array(data[(i + 4)..<(i + 8 + length)])
            XCTAssertEqual(UInt(word(i + 8 + length)), crc32(0, typeAndBody, UInt32(typeAndBody.count)), "chunk CRC")
            result.append((String(decoding: typeAndBody.prefix(4), as: UTF8.self), Array(typeAndBody.dropFirst(4))))
            i += 12 + length
        }
        XCTAssertEqual(i, data.count, "no trailing bytes")
        return result
    }

    func inflated(_ compressed: [UInt8], expectedCount: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expectedCount + 16)
        var length = UInt(out.count)
        XCTAssertEqual(uncompress(&out, &length, compressed, UInt(compressed.count)), Z_OK)
        return Array(out[0..<Int(length)])
    }

    func testEncodesAndDecodesBack() throws {
        let (w, h) = (5, 3)
        let pixels: [UInt8] = (0..<(w * h)).map { UInt8(($0 * 37) % 256) }
        let png = PNGImage(width: w, height: h, pixels: pixels)
        let parts = try chunks([UInt8](png.encoded()))
        XCTAssertEqual(parts.map(\.0), ["IHDR", "IDAT", "IEND"])
        XCTAssertEqual(parts[0].1, [0, 0, 0, 5, 0, 0, 0, 3, 8, 0, 0, 0, 0], "width, height, depth 8, grey, no interlace")
        let raw = inflated(parts[1].1, expectedCount: (w + 1) * h)
        XCTAssertEqual(raw.count, (w + 1) * h)
        var decoded = [UInt8]()
        for r in 0..<h {
            XCTAssertEqual(raw[r * (w + 1)], 0, "filter type none")
            decoded += raw[(r * (w + 1) + 1)..<((r + 1) * (w + 1))]
        }
        XCTAssertEqual(decoded, pixels)
        XCTAssertTrue(parts[2].1.isEmpty)
    }

    func testGridLayoutAndScaling() {
        // Two 2x1 images, values 0...1, in one row with 1 pixel of padding, zoom 2.
        let cases = Matrix<Float>(rows: 2, columns: 2, elements: [0, 1, 0.5, 2])
        let grid = PNGImage.grid(cases, imageWidth: 2, imageHeight: 1, columns: 2, padding: 1, scale: 2, range: 0...1)
        XCTAssertEqual(grid.width, 2 * 4 + 3); XCTAssertEqual(grid.height, 2 + 2)
        let row1 = Array(grid.pixels[grid.width..<(2 * grid.width)])
        XCTAssertEqual(row1, [128, 0, 0, 255, 255, 128, 128, 128, 255, 255, 128], "padding grey, values clipped to the range")
        XCTAssertEqual(Array(grid.pixels[0..<grid.width]), [UInt8](repeating: 128, count: grid.width))
    }

    func testWritesFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hf-png-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: url) }
        let png = PNGImage(width: 1, height: 1, pixels: [7])
        try png.write(to: url)
        XCTAssertEqual(try Data(contentsOf: url), png.encoded())
    }
}
