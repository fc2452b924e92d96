import Foundation
import LinearAlgebra

/// A look-alike of the CURVES data set of Hinton & Salakhutdinov (2006): 28x28 images of a
/// smooth curve through three random points in the plane, intensities in [0, 1], 20000
/// training and 10000 test images. The original file (`digs3pts_1.mat`) is not available, so
/// this generates data from the published description ("curves that were generated from three
/// randomly chosen points in two dimensions").
///
/// Recipe (version `Recipe.version`), in pixel coordinates where pixel (r, c) covers
/// [c, c+1] x [r, r+1] and its centre is (c + 0.5, r + 0.5):
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
///    polyline with a round pen of width `w = Recipe.penWidth` pixels, anti-aliased by a linear
///    ramp of one pixel: a pixel whose centre lies at distance d from the polyline gets
///    intensity clamp(w/2 + 1/2 - d, 0, 1). So a pixel fully inside the pen is 1, and the ink
///    across the stroke integrates to about w.
///
/// The pen width and margin were tuned so that the error of predicting the mean training image
/// is close to the original's (about 16.9 per case, where Martens' HF run plateaus); see
/// docs/datasets.md for the measured statistics.
public enum Curves {
    public static let width = 28
    public static let height = 28
    public static let trainingCases = 20000
    public static let testCases = 10000
    /// The seed used when none is given.
    public static let defaultSeed: UInt64 = 2006

    /// The generator's constants; changing any of them must change `version`.
    public struct Recipe: Sendable, Equatable {
        /// Bumped whenever the images for a seed change, so cached entries are rebuilt.
        public static let version = 1
        /// Points are drawn in [margin, 28 - margin]^2 (pixels).
        public var margin: Double = 2.0
        /// Width of the round pen (pixels).
        public var penWidth: Double = 1.15
        /// Polyline vertices along the curve (64 keeps the chord error far below a pixel).
        public var samples: Int = 64
        public init() {}
    }

    /// Renders case `index` of the data set for `seed` into `out` (784 values, row-major).
    public static func render(seed: UInt64, index: Int, recipe: Recipe = Recipe(), into out: UnsafeMutablePointer<Float>) {
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
        let reach = recipe.penWidth / 2 + 0.5
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
            let d = nearest[i].squareRoot()
            out[i] = Float(min(max(reach - d, 0), 1))
        }
    }

    /// Generates `count` images starting at case `first` (train cases are 0..<20000, test cases
    /// 20000..<30000), in parallel; the result does not depend on the number of threads.
    public static func generate(seed: UInt64, first: Int, count: Int, recipe: Recipe = Recipe()) -> Matrix<Float> {
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
    public static func build(seed: UInt64, recipe: Recipe = Recipe(),
                             trainingCases: Int = trainingCases, testCases: Int = testCases) -> Dataset {
        Dataset(name: "curves",
                train: generate(seed: seed, first: 0, count: trainingCases, recipe: recipe),
                test: generate(seed: seed, first: trainingCases, count: testCases, recipe: recipe),
                imageWidth: width, imageHeight: height)
    }

    /// The cache key of the standard data set for `seed`.
    public static func cacheKey(seed: UInt64) -> DatasetCache.Key {
        DatasetCache.Key(recipe: "curves-v\(Recipe.version)", seed: seed)
    }

    /// The data set for `seed`, from the cache when a matching entry exists, else generated
    /// and cached.
    public static func load(seed: UInt64 = defaultSeed, cacheDirectory: URL, progress: ProgressHandler? = nil) throws -> Dataset {
        try DatasetCache.cached(key: cacheKey(seed: seed), in: cacheDirectory, progress: progress) {
            build(seed: seed)
        }
    }
}
