import Foundation
import LinearAlgebra

/// A look-alike of the CURVES data set of Hinton & Salakhutdinov (2006): 28x28 images of a
/// smooth curve through three random points in the plane, intensities in [0, 1], 20000
/// training and 10000 test images. The original file (`digs3pts_1.mat`) is not available, so
/// this generates data from the published description ("curves that were generated from three
/// randomly chosen points in two dimensions").
///
/// Recipe, in pixel coordinates where pixel (r, c) covers [c, c+1] x [r, r+1] and its centre
/// is (c + 0.5, r + 0.5):
/// 1. Draw three points independently and uniformly in the square [m, 28 - m]^2, with the
///    margin `m = Recipe.margin`, from a generator seeded by (seed, case index) so every image
///    is reproducible on its own and the build can run in parallel.
/// 2. The points are ordered along the shortest path through them (the middle point is the
///    vertex opposite the longest side of their triangle). The curve is the quadratic (a
///    parabola, the smoothest polynomial) through them in that order, with chord-length parameters: P(0) = p0, P(t1) = p1, P(1) = p2, where
///    t1 = |p1 - p0| / (|p1 - p0| + |p2 - p1|), clamped to [0.25, 0.75] so that two nearly
///    coincident points cannot fling the curve far off the image. Parts of it may leave the
///    image, as strokes in the original do; they are clipped.
/// 3. The curve is sampled at `Recipe.samples` equally spaced parameters and drawn as that
///    polyline with the recipe's `Pen`: a pixel whose centre lies at distance d from the
///    polyline gets the pen's intensity at d.
///
/// Two versions of the recipe exist; they differ only in the pen. Version 1 (a hard pen 1.15
/// pixels wide) matches the original's mean-image error (about 16.9 per case, where Martens'
/// HF run plateaus) but not its PCA error; version 2 (a Gaussian pen, the ink line blurred by a
/// Gaussian kernel as in Hinton's ink model of strokes) matches both. See docs/datasets.md for
/// the measured statistics. Runs record the version they used, so a version-1 run resumes on
/// version-1 data.
public enum Curves {
    public static let width = 28
    public static let height = 28
    public static let trainingCases = 20000
    public static let testCases = 10000
    /// The seed used when none is given.
    public static let defaultSeed: UInt64 = 2006

    /// How a stroke's intensity falls off with the distance d (pixels) of a pixel's centre
    /// from the curve.
    public enum Pen: Sendable, Equatable {
        /// A round pen of the given width anti-aliased by a linear ramp of one pixel:
        /// clamp(width/2 + 1/2 - d, 0, 1). Pixels fully inside the pen are 1; the ink across the
        /// stroke integrates to about the width.
        case round(width: Double)
        /// A Gaussian profile, peak * exp(-d^2 / (2 sigma^2)) (peak <= 1): a line of ink
        /// convolved with a Gaussian kernel. Cut to 0 beyond 4.5 sigma, where it is below
        /// 4e-5 of the peak.
        case gaussian(sigma: Double, peak: Double)

        /// The distance beyond which the pen leaves no ink.
        var reach: Double {
            switch self {
            case .round(let width): return width / 2 + 0.5
            case .gaussian(let sigma, _): return 4.5 * sigma
            }
        }

        /// The intensity, in [0, 1], of a pixel at `distance` from the curve.
        func intensity(distance d: Double) -> Double {
            guard d < reach else { return 0 }
            switch self {
            case .round(let width): return min(max(width / 2 + 0.5 - d, 0), 1)
            case .gaussian(let sigma, let peak): return peak * exp(-d * d / (2 * sigma * sigma))
            }
        }
    }

    /// The generator's constants. A version's images for a seed never change; a new recipe
    /// gets a new version, so cached entries and recorded runs stay what they were (hence
    /// constants, and only the named versions below).
    public struct Recipe: Sendable, Equatable {
        /// Part of the cache key and of a run's configuration.
        public let version: Int
        /// Points are drawn in [margin, 28 - margin]^2 (pixels).
        public let margin: Double = 2.0
        /// How strokes are inked.
        public let pen: Pen
        /// Polyline vertices along the curve (64 keeps the chord error far below a pixel).
        public let samples: Int = 64

        /// Version 1: a round pen 1.15 pixels wide, tuned to the original's mean-image error
        /// (16.9 per case) alone.
        public static let version1 = Recipe(version: 1, pen: .round(width: 1.15))
        /// Version 2: a Gaussian pen of sigma 1.23 pixels and peak 0.64, fitted to two numbers
        /// published for the original: the mean-image error (16.9 per case) and standard PCA's
        /// test error with 18 components (5.90, Hinton & Salakhutdinov's Fig. 2 caption).
        public static let version2 = Recipe(version: 2, pen: .gaussian(sigma: 1.23, peak: 0.64))
        /// Every version, oldest first.
        public static let all = [version1, version2]
        /// The version new runs use.
        public static let latest = version2

        /// The recipe of `version`, or an error naming the versions that exist.
        public static func version(_ version: Int) throws -> Recipe {
            guard let r = all.first(where: { $0.version == version }) else {
                throw DatasetError.invalidArgument("CURVES recipe version \(version) does not exist; versions are \(all.map { String($0.version) }.joined(separator: ", "))")
            }
            return r
        }
    }

    /// Renders case `index` of the data set for `seed` into `out` (784 values, row-major).
    public static func render(seed: UInt64, index: Int, recipe: Recipe = .latest, into out: UnsafeMutablePointer<Float>) {
        // Distinct, well-mixed streams per case: SplitMix seeding decorrelates nearby seeds.
        var rng = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
        let span = Double(width) - 2 * recipe.margin
        var p = [(x: Double, y: Double)]()
        for _ in 0..<3 { p.append((recipe.margin + span * rng.uniform(), recipe.margin + span * rng.uniform())) }
        // Visit the points along the shortest path: the middle one is the vertex opposite the
        // triangle's longest side, so the curve bends once and never folds back on itself.
        func length(_ i: Int, _ j: Int) -> Double { hypot(p[i].x - p[j].x, p[i].y - p[j].y) }
        let opposite = [length(1, 2), length(0, 2), length(0, 1)]
        let middle = opposite.indices.max { opposite[$0] < opposite[$1] }!
        p.swapAt(1, middle)
        let d1 = hypot(p[1].x - p[0].x, p[1].y - p[0].y)
        let d2 = hypot(p[2].x - p[1].x, p[2].y - p[1].y)
        let t1 = d1 + d2 > 0 ? min(max(d1 / (d1 + d2), 0.25), 0.75) : 0.5
        // Lagrange basis of the quadratic with nodes 0, t1, 1.
        func point(_ t: Double) -> (x: Double, y: Double) {
            let l0 = (t - t1) * (t - 1) / t1
            let l1 = t * (t - 1) / (t1 * (t1 - 1))
            let l2 = t * (t - t1) / (1 - t1)
            return (l0 * p[0].x + l1 * p[1].x + l2 * p[2].x, l0 * p[0].y + l1 * p[1].y + l2 * p[2].y)
        }
        let n = width * height
        // Squared distance from each pixel centre to the polyline, within reach of the pen.
        var nearest = [Double](repeating: .infinity, count: n)
        let reach = recipe.pen.reach
        var a = point(0)
        for s in 1...recipe.samples {
            let b = point(Double(s) / Double(recipe.samples))
            let lowC = max(0, Int((min(a.x, b.x) - reach).rounded(.down)))
            let highC = min(width - 1, Int((max(a.x, b.x) + reach).rounded(.up)))
            let lowR = max(0, Int((min(a.y, b.y) - reach).rounded(.down)))
            let highR = min(height - 1, Int((max(a.y, b.y) + reach).rounded(.up)))
            if lowC <= highC && lowR <= highR {
                let ex = b.x - a.x, ey = b.y - a.y
                let length2 = ex * ex + ey * ey
                for r in lowR...highR {
                    let cy = Double(r) + 0.5
                    for c in lowC...highC {
                        let cx = Double(c) + 0.5
                        var u = length2 > 0 ? ((cx - a.x) * ex + (cy - a.y) * ey) / length2 : 0
                        u = min(max(u, 0), 1)
                        let dx = cx - (a.x + u * ex), dy = cy - (a.y + u * ey)
                        let d2 = dx * dx + dy * dy
                        if d2 < nearest[r * width + c] { nearest[r * width + c] = d2 }
                    }
                }
            }
            a = b
        }
        for i in 0..<n {
            out[i] = Float(recipe.pen.intensity(distance: nearest[i].squareRoot()))
        }
    }

    /// Generates `count` images starting at case `first` (train cases are 0..<20000, test cases
    /// 20000..<30000), in parallel; the result does not depend on the number of threads.
    public static func generate(seed: UInt64, first: Int, count: Int, recipe: Recipe = .latest) -> Matrix<Float> {
        var m = Matrix<Float>(rows: count, columns: width * height)
        m.withMutableView { view in
            let shared = SharedPointer(base: view.base)
            let blocks = max(1, min(count, 64))
            DispatchQueue.concurrentPerform(iterations: blocks) { block in
                let lo = count * block / blocks, hi = count * (block + 1) / blocks
                for i in lo..<hi { render(seed: seed, index: first + i, recipe: recipe, into: shared.base + i * width * height) }
            }
        }
        return m
    }

    /// The data set for `seed`, generated without caching.
    public static func build(seed: UInt64, recipe: Recipe = .latest,
                             trainingCases: Int = trainingCases, testCases: Int = testCases) -> Dataset {
        Dataset(name: "curves",
                train: generate(seed: seed, first: 0, count: trainingCases, recipe: recipe),
                test: generate(seed: seed, first: trainingCases, count: testCases, recipe: recipe),
                imageWidth: width, imageHeight: height)
    }

    /// The cache key of the standard data set for `seed` and `recipe`.
    public static func cacheKey(seed: UInt64, recipe: Recipe = .latest) -> DatasetCache.Key {
        DatasetCache.Key(recipe: "curves-v\(recipe.version)", seed: seed)
    }

    /// The data set for `seed`, from the cache when a matching entry exists, else generated
    /// and cached.
    public static func load(seed: UInt64 = defaultSeed, recipe: Recipe = .latest, cacheDirectory: URL,
                            progress: ProgressHandler? = nil) throws -> Dataset {
        try DatasetCache.cached(key: cacheKey(seed: seed, recipe: recipe), in: cacheDirectory, progress: progress) {
            build(seed: seed, recipe: recipe)
        }
    }
}
