import CZlib
import Foundation
import LinearAlgebra

/// An 8-bit grey-scale image and its PNG encoding (colour type 0, bit depth 8, no interlace,
/// filter 0 on every scanline, one zlib-compressed IDAT chunk; CRC-32 from zlib).
public struct PNGImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Grey levels, row-major, row 0 at the top (0 black, 255 white).
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "PNG size \(width)x\(height) must be positive")
        precondition(pixels.count == width * height, "PNG \(width)x\(height) needs \(width * height) pixels, got \(pixels.count)")
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// A grid of images, one per row of `cases` (each `imageWidth * imageHeight` values,
    /// row-major), `columns` to a row of the grid, with `padding` pixels of grey 0.5 between
    /// them. Values map linearly from `range` to 0...255 and are clipped; the default range is
    /// the smallest and largest value shown.
    /// - Parameter scale: each image pixel becomes `scale x scale` output pixels.
    public static func grid(_ cases: Matrix<Float>, imageWidth: Int, imageHeight: Int, columns: Int,
                            padding: Int = 1, scale: Int = 1, range: ClosedRange<Float>? = nil) -> PNGImage {
        precondition(imageWidth * imageHeight == cases.columns, "image \(imageWidth)x\(imageHeight) does not match \(cases.columns) values")
        precondition(columns > 0 && padding >= 0 && scale > 0 && cases.rows > 0, "empty or malformed grid")
        let count = cases.rows
        let gridRows = (count + columns - 1) / columns
        let cellW = imageWidth * scale, cellH = imageHeight * scale
        let width = columns * cellW + (columns + 1) * padding
        let height = gridRows * cellH + (gridRows + 1) * padding
        let used = cases.storage[0..<(count * cases.columns)]
        let lo = range?.lowerBound ?? used.min() ?? 0
        let hi = range?.upperBound ?? used.max() ?? 1
        let span = hi > lo ? hi - lo : 1
        var pixels = [UInt8](repeating: 128, count: width * height)
        for k in 0..<count {
            let top = padding + (k / columns) * (cellH + padding)
            let left = padding + (k % columns) * (cellW + padding)
            for r in 0..<cellH {
                for c in 0..<cellW {
                    let v = cases[k, (r / scale) * imageWidth + c / scale]
                    let level = ((v - lo) / span * 255).rounded()
                    pixels[(top + r) * width + left + c] = UInt8(min(max(level.isNaN ? 0 : level, 0), 255))
                }
            }
        }
        return PNGImage(width: width, height: height, pixels: pixels)
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG file's bytes.
    public func encoded() -> Data {
        var data = Data(Self.signature)
        var header = [UInt8]()
        header.appendBigEndian(UInt32(width)); header.appendBigEndian(UInt32(height))
        header += [8, 0, 0, 0, 0]  // bit depth 8, grey, deflate, filter method 0, no interlace
        Self.appendChunk("IHDR", header, to: &data)
        // Each scanline is preceded by its filter type (0: none).
        var raw = [UInt8]()
        raw.reserveCapacity((width + 1) * height)
        for r in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(r * width)..<((r + 1) * width)])
        }
        var compressedLength = compressBound(UInt(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedLength))
        let status = compress2(&compressed, &compressedLength, raw, UInt(raw.count), Z_BEST_COMPRESSION)
        // compress2 fails only for lack of memory or a too-small buffer, which compressBound rules out.
        precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
        Self.appendChunk("IDAT", Array(compressed[0..<Int(compressedLength)]), to: &data)
        Self.appendChunk("IEND", [], to: &data)
        return data
    }

    /// Writes the PNG file atomically.
    public func write(to url: URL) throws {
        try AtomicFile.write(encoded(), to: url)
    }

    static func appendChunk(_ type: String, _ body: [UInt8], to data: inout Data) {
        var chunk = [UInt8]()
        chunk.appendBigEndian(UInt32(body.count))
        let typeAndBody = Array(type.utf8) + body
        chunk += typeAndBody
        chunk.appendBigEndian(UInt32(crc32(0, typeAndBody, UInt32(typeAndBody.count))))
        data.append(contentsOf: chunk)
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8((v >> 16) & 0xff)); append(UInt8((v >> 8) & 0xff)); append(UInt8(v & 0xff))
    }
}
