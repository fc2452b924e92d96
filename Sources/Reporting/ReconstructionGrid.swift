import Foundation

/// A grey-scale picture as 8-bit values, row-major (`pixels[row * width + column]`), 0 black
/// and 255 white: what a PNG encoder for grey images takes.
public struct GreyscalePixels: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width * height` values, row-major.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GreyscalePixels: \(pixels.count) values for \(width) x \(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The value at (`row`, `column`).
    public subscript(row: Int, column: Int) -> UInt8 { pixels[row * width + column] }
}

/// The picture for `reconstructions.png`: test images in one row, their reconstructions in
/// the row below, wrapping into further pairs of rows after `columns` images.
///
/// The integrator encodes it with the package's PNG writer, expected as
/// `PNGImage(width: grid.width, height: grid.height, pixels: grid.pixels)` (8-bit grey,
/// row-major) followed by its write/encode call, into
/// `ReportWriter.reconstructionsFileName` in the report folder.
public enum ReconstructionGrid {
    /// How one image's pixels are ordered in its vector.
    public enum PixelOrder: Sendable {
        /// Row after row (MNIST, CURVES).
        case rowMajor
        /// Column after column (images saved from MATLAB, e.g. the FACES set).
        case columnMajor
    }

    /// Builds the grid.
    ///
    /// - Parameters:
    ///   - originals: test images, each `imageWidth * imageHeight` values.
    ///   - reconstructions: the network's outputs for them, same count and sizes.
    ///   - columns: images per row (at most the number of images).
    ///   - valueRange: the values mapped to black and white; nil uses the smallest and largest
    ///     finite value of originals and reconstructions together, so both share one scale.
    ///     Values outside are clamped; non-finite values are black.
    ///   - gap: pixels between images and around the border; pairs of rows are separated by
    ///     twice that.
    ///   - background: the value of the gap pixels.
    public static func pixels<Scalar: BinaryFloatingPoint>(
        originals: [[Scalar]], reconstructions: [[Scalar]], imageWidth: Int, imageHeight: Int,
        order: PixelOrder = .rowMajor, columns: Int = 10, valueRange: ClosedRange<Double>? = nil,
        gap: Int = 1, background: UInt8 = 128
    ) -> GreyscalePixels {
        precondition(imageWidth > 0 && imageHeight > 0 && columns > 0 && gap >= 0,
                     "ReconstructionGrid: bad geometry \(imageWidth) x \(imageHeight), \(columns) columns, gap \(gap)")
        precondition(originals.count == reconstructions.count,
                     "ReconstructionGrid: \(originals.count) originals but \(reconstructions.count) reconstructions")
        for image in originals + reconstructions {
            precondition(image.count == imageWidth * imageHeight,
                         "ReconstructionGrid: image of \(image.count) values, expected \(imageWidth) x \(imageHeight)")
        }
        let count = originals.count
        guard count > 0 else { return GreyscalePixels(width: 0, height: 0, pixels: []) }
        let perRow = min(columns, count)
        let pairRows = (count + perRow - 1) / perRow
        let width = perRow * imageWidth + (perRow + 1) * gap
        let height = pairRows * 2 * imageHeight + pairRows * 3 * gap + gap
        var pixels = [UInt8](repeating: background, count: width * height)

        var range = valueRange
        if range == nil {
            let finite = (originals + reconstructions).joined().lazy.map { Double($0) }.filter(\.isFinite)
            if let lo = finite.min(), let hi = finite.max() { range = lo...hi }
        }
        let lo = range?.lowerBound ?? 0, hi = range?.upperBound ?? 1
        func grey(_ value: Scalar) -> UInt8 {
            let v = Double(value)
            guard v.isFinite else { return 0 }
            guard hi > lo else { return v >= hi ? 255 : 0 }
            return UInt8(min(255, max(0, ((v - lo) / (hi - lo) * 255).rounded())))
        }
        func draw(_ image: [Scalar], top: Int, left: Int) {
            for row in 0..<imageHeight {
                for column in 0..<imageWidth {
                    let index = order == .rowMajor ? row * imageWidth + column : column * imageHeight + row
                    pixels[(top + row) * width + left + column] = grey(image[index])
                }
            }
        }
        for index in 0..<count {
            let pairRow = index / perRow, column = index % perRow
            let left = gap + column * (imageWidth + gap)
            let top = gap + pairRow * (2 * imageHeight + 3 * gap)
            draw(originals[index], top: top, left: left)
            draw(reconstructions[index], top: top + imageHeight + gap, left: left)
        }
        return GreyscalePixels(width: width, height: height, pixels: pixels)
    }
}
