import Foundation

/// A grey-scale image, values in [0, 1], row-major (row 0 at the top).
public struct GreyImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == width * height, "image \(width)x\(height) needs \(width * height) pixels, got \(pixels.count)")
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// Bilinear interpolation at (x, y) in pixel coordinates where pixel (r, c) has its centre
    /// at (c + 0.5, r + 0.5); points off the image take the nearest edge value.
    @inline(__always) public func sample(x: Double, y: Double) -> Double {
        let fx = min(max(x - 0.5, 0), Double(width - 1))
        let fy = min(max(y - 0.5, 0), Double(height - 1))
        let c0 = min(Int(fx), width - 2 < 0 ? 0 : width - 2), r0 = min(Int(fy), height - 2 < 0 ? 0 : height - 2)
        let c1 = min(c0 + 1, width - 1), r1 = min(r0 + 1, height - 1)
        let ax = fx - Double(c0), ay = fy - Double(r0)
        return pixels.withUnsafeBufferPointer { p in
            let top = Double(p[r0 * width + c0]) * (1 - ax) + Double(p[r0 * width + c1]) * ax
            let bottom = Double(p[r1 * width + c0]) * (1 - ax) + Double(p[r1 * width + c1]) * ax
            return top * (1 - ay) + bottom * ay
        }
    }
}

/// Binary PGM ("P5") images, as in the Olivetti faces. The header is the magic `P5`, width,
/// height and the largest grey value, separated by any white space, with `#` comments running
/// to the end of a line; exactly one white-space byte follows the largest value, then the
/// pixels (one byte each, or two big-endian bytes when the largest value exceeds 255).
public enum PGM {
    /// Parses a P5 image; values are divided by the largest grey value.
    /// - Parameter name: the file name used in error messages.
    public static func parse(_ data: [UInt8], name: String) throws -> GreyImage {
        if data.isEmpty { throw DatasetError.malformed(name, reason: "empty file") }
        guard data.count >= 2, data[0] == UInt8(ascii: "P"), data[1] == UInt8(ascii: "5") else {
            let found = data.count >= 2 ? UInt32(data[0]) << 8 | UInt32(data[1]) : UInt32(data[0])
            throw DatasetError.badMagic(name, found: found, expected: 0x5035)
        }
        var i = 2
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0d || b == 0x0b || b == 0x0c }
        func number(_ what: String) throws -> Int {
            // Skip white space and comments.
            while i < data.count {
                if isSpace(data[i]) { i += 1 }
                else if data[i] == UInt8(ascii: "#") { while i < data.count && data[i] != 0x0a { i += 1 } }
                else { break }
            }
            guard i < data.count else { throw DatasetError.malformed(name, reason: "PGM header ends before the \(what)") }
            var value = 0
            var digits = 0
            while i < data.count, data[i] >= 0x30, data[i] <= 0x39 {
                value = value * 10 + Int(data[i] - 0x30)
                digits += 1; i += 1
                guard value <= 1 << 20 else { throw DatasetError.malformed(name, reason: "PGM \(what) is too large") }
            }
            guard digits > 0 else { throw DatasetError.malformed(name, reason: "PGM \(what) is not a number") }
            return value
        }
        let width = try number("width")
        let height = try number("height")
        let maxValue = try number("largest grey value")
        guard width > 0, height > 0 else { throw DatasetError.malformed(name, reason: "PGM size \(width)x\(height) is empty") }
        guard maxValue > 0, maxValue < 65536 else {
            throw DatasetError.malformed(name, reason: "PGM largest grey value \(maxValue) is out of range 1...65535")
        }
        guard i < data.count, isSpace(data[i]) else {
            throw DatasetError.malformed(name, reason: "PGM header is not followed by white space")
        }
        i += 1
        let bytesPerPixel = maxValue > 255 ? 2 : 1
        let needed = width * height * bytesPerPixel
        guard data.count - i >= needed else {
            throw DatasetError.truncated(name, expectedBytes: i + needed, actualBytes: data.count)
        }
        let largest = Float(maxValue)
        var pixels = [Float](repeating: 0, count: width * height)
        for k in 0..<(width * height) {
            let v = bytesPerPixel == 1 ? Int(data[i + k]) : Int(data[i + 2 * k]) << 8 | Int(data[i + 2 * k + 1])
            guard v <= maxValue else {
                throw DatasetError.malformed(name, reason: "pixel \(k + 1) has value \(v) above the largest grey value \(maxValue)")
            }
            pixels[k] = Float(v) / largest
        }
        return GreyImage(width: width, height: height, pixels: pixels)
    }

    /// Reads a P5 file.
    public static func read(_ url: URL) throws -> GreyImage {
        try parse(FileBytes.readRaw(url), name: url.path)
    }
}

/// A pointer that may cross into `DispatchQueue.concurrentPerform`'s closure; each iteration
/// writes a disjoint range, which is what makes this sound.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
