import CZlib
import Foundation
import LinearAlgebra

/// The FACES data set of Hinton & Salakhutdinov (2006), built from the 400 Olivetti (ORL/AT&T)
/// faces: 40 people x 10 images of 92x112 grey levels, `att_faces/sP/N.pgm`.
///
/// Recipe (version `Recipe.version`):
/// 1. Each source image (values / 255) gives 414 variants: 46 angles from -90 to +90 degrees in
///    4-degree steps times 9 scale factors from 1.40 to 1.80 in steps of 0.05 (H&S: rotations
///    -90..90 degrees, scales 1.4..1.8; the 46 x 9 grid is our reading, it fits 414 exactly).
/// 2. A variant is a 25x25 image whose square window, centred on the centre of the source image
///    (the face is centred in every ORL image), has side `Recipe.baseSide / s` source pixels
///    and is rotated by the angle about that centre; so a scale s > 1 zooms in on the face. With
///    `baseSide` = 92, the image width, the largest window (s = 1.4, side 65.7 pixels) covers
///    the face from brow to chin and fits inside the image at every angle (its half-diagonal,
///    46.5, exceeds the half-width 46 by half a pixel at 45 degrees; such points take the
///    nearest edge value). A positive angle turns the face clockwise as displayed (row 0 at
///    the top): at +90 degrees the right side of the source image is at the bottom.
/// 3. Subsampling: each output pixel is the mean of a 3x3 grid of bilinear samples spread over
///    its footprint in the source (a box filter), so the 2-3.7x reduction does not alias.
/// 4. Order: by person (s1..s40), then image (1..10), then angle (ascending), then scale
///    (ascending): 4140 images per person, 165,600 in all.
/// 5. Normalisation over all 165,600 images: subtract each pixel's mean, then divide every
///    value by one number so that the per-pixel variance, averaged over the 625 pixels, is 1.
/// 6. Split by person: people 1-25 train (103,500), 26-30 validation (20,700), 31-40 test
///    (41,400). (Martens' code takes the first 103,500 and last 41,400 columns of the
///    original file; the middle 20,700 are held out.)
public enum Faces {
    public static let side = 25
    public static let people = 40
    public static let imagesPerPerson = 10

    /// The builder's constants; changing any of them must change `version`.
    public struct Recipe: Sendable, Equatable {
        public static let version = 1
        /// Rotation angles in degrees: -90, -86, ..., 90 (46 values).
        public var angles: [Double] = stride(from: -90.0, through: 90.0, by: 4.0).map { $0 }
        /// Scale factors: 1.40, 1.45, ..., 1.80 (9 values).
        public var scales: [Double] = (0...8).map { 1.4 + 0.05 * Double($0) }
        /// The window side at scale 1, in source pixels (the width of an ORL image).
        public var baseSide: Double = 92
        /// Samples per output pixel along each axis for the box filter.
        public var supersampling: Int = 3
        public init() {}
        /// Variants made from each source image (414 for the standard recipe).
        public var variantsPerImage: Int { angles.count * scales.count }
    }

    /// How people are split: of every 8 people, 5 train, 1 validation, 2 test (25/5/10 of 40).
    public static func split(people: Int) -> (train: Int, validation: Int, test: Int) {
        let train = people * 5 / 8, validation = people / 8
        return (train, validation, people - train - validation)
    }

    /// The source files `<source>/sP/N.pgm`, person-major.
    public static func sourceFiles(in source: URL, people: Int = people, imagesPerPerson: Int = imagesPerPerson) -> [[URL]] {
        (1...people).map { p in
            (1...imagesPerPerson).map { n in
                source.appendingPathComponent("s\(p)", isDirectory: true).appendingPathComponent("\(n).pgm")
            }
        }
    }

    /// Reads the source images, person-major, and a fingerprint (CRC-32 and length of all
    /// their bytes) that changes when any source file does.
    public static func readSources(_ files: [[URL]]) throws -> (images: [[GreyImage]], fingerprint: String) {
        var crc: UInt = 0
        var length = 0
        var images = [[GreyImage]]()
        for person in files {
            var row = [GreyImage]()
            for url in person {
                let bytes = try FileBytes.readRaw(url)
                crc = bytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, UInt32($0.count)) }
                length += bytes.count
                let image = try PGM.parse(bytes, name: url.path)
                if let first = images.first?.first ?? row.first, first.width != image.width || first.height != image.height {
                    throw DatasetError.shapeMismatch(url.path, reason: "image is \(image.width)x\(image.height), others are \(first.width)x\(first.height)")
                }
                row.append(image)
            }
            images.append(row)
        }
        return (images, "crc32:\(String(crc, radix: 16))-bytes:\(length)")
    }

    /// Renders one variant of `image` into `out` (625 values, row-major, not normalised).
    public static func render(_ image: GreyImage, angleDegrees: Double, scale: Double, recipe: Recipe = Recipe(),
                              into out: UnsafeMutablePointer<Float>) {
        let centreX = Double(image.width) / 2, centreY = Double(image.height) / 2
        let window = recipe.baseSide / scale
        let theta = angleDegrees * Double.pi / 180
        // Output (u, v) in [-1/2, 1/2]^2 maps to source centre + window * R(theta) (u, v), with
        // y pointing down in both; at +90 degrees output row v samples source column v.
        let cosT = cos(theta), sinT = sin(theta)
        let k = recipe.supersampling
        let weight = 1 / Double(k * k)
        for r in 0..<side {
            for c in 0..<side {
                var sum = 0.0
                for a in 0..<k {
                    let v = (Double(r) + (Double(a) + 0.5) / Double(k)) / Double(side) - 0.5
                    for b in 0..<k {
                        let u = (Double(c) + (Double(b) + 0.5) / Double(k)) / Double(side) - 0.5
                        let x = centreX + window * (cosT * u + sinT * v)
                        let y = centreY + window * (-sinT * u + cosT * v)
                        sum += image.sample(x: x, y: y)
                    }
                }
                out[r * side + c] = Float(sum * weight)
            }
        }
    }

    /// Renders every variant of every image of `people` (person-major) into one matrix, rows
    /// ordered person, image, angle, scale; in parallel, independent of the thread count.
    public static func renderAll(_ people: [[GreyImage]], recipe: Recipe = Recipe()) -> Matrix<Float> {
        let sources = people.flatMap { $0 }
        let variants = recipe.variantsPerImage
        var m = Matrix<Float>(rows: sources.count * variants, columns: side * side)
        m.withMutableView { view in
            let shared = SharedPointer(base: view.base)
            // One task per (image, angle): 9 renders each, thousands of tasks to balance cores.
            DispatchQueue.concurrentPerform(iterations: sources.count * recipe.angles.count) { task in
                let s = task / recipe.angles.count, a = task % recipe.angles.count
                for (j, scale) in recipe.scales.enumerated() {
                    let row = s * variants + a * recipe.scales.count + j
                    render(sources[s], angleDegrees: recipe.angles[a], scale: scale, recipe: recipe,
                           into: shared.base + row * side * side)
                }
            }
        }
        return m
    }

    /// Subtracts each column's mean and divides everything by one number so that the column
    /// variances average to 1 (statistics over all rows, in Double).
    public static func normalise(_ m: inout Matrix<Float>) {
        let n = m.rows, d = m.columns
        guard n > 0 else { return }
        var mean = [Double](repeating: 0, count: d)
        var square = [Double](repeating: 0, count: d)
        m.storage.withUnsafeBufferPointer { p in
            for i in 0..<n { for j in 0..<d { let v = Double(p[i * d + j]); mean[j] += v; square[j] += v * v } }
        }
        var totalVariance = 0.0
        for j in 0..<d {
            mean[j] /= Double(n)
            totalVariance += max(square[j] / Double(n) - mean[j] * mean[j], 0)
        }
        let averageVariance = totalVariance / Double(d)
        // A constant data set has nothing to scale; leave it centred.
        let factor = averageVariance > 0 ? 1 / averageVariance.squareRoot() : 1
        m.storage.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { for j in 0..<d { p[i * d + j] = Float((Double(p[i * d + j]) - mean[j]) * factor) } }
        }
    }

    /// The data set from source images (person-major): rendered, normalised over all people,
    /// split by person (`split(people:)`).
    public static func build(_ people: [[GreyImage]], recipe: Recipe = Recipe()) -> Dataset {
        var all = renderAll(people, recipe: recipe)
        normalise(&all)
        let perPerson = all.rows / max(people.count, 1)
        let counts = split(people: people.count)
        func rows(_ first: Int, _ count: Int) -> Matrix<Float> {
            let lo = first * perPerson * all.columns, hi = (first + count) * perPerson * all.columns
            return Matrix(rows: count * perPerson, columns: all.columns, elements: Array(all.storage[lo..<hi]))
        }
        return Dataset(name: "faces", train: rows(0, counts.train), validation: rows(counts.train, counts.validation),
                       test: rows(counts.train + counts.validation, counts.test), imageWidth: side, imageHeight: side)
    }

    /// The standard data set from `<source>/sP/N.pgm`, from the cache when a matching entry
    /// exists (same recipe version and source files), else built and cached.
    public static func load(source: URL, cacheDirectory: URL, progress: ProgressHandler? = nil) throws -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError.missingFile(source.path)
        }
        let (images, fingerprint) = try readSources(sourceFiles(in: source))
        let key = DatasetCache.Key(recipe: "faces-v\(Recipe.version)", seed: 0, sourceFingerprint: fingerprint)
        return try DatasetCache.cached(key: key, in: cacheDirectory, progress: progress) {
            build(images)
        }
    }
}
