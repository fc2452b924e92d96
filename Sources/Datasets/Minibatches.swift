import LinearAlgebra

/// Curvature mini-batches (Martens 2010, section 4.3): the training cases are permuted once,
/// with a seed, and the permutation is cut into consecutive batches of `batchSize` cases (the
/// last one shorter when the size does not divide the number of cases). Iteration k uses batch
/// k mod count, round-robin, as `targetchunk = mod(epoch-1, numchunks)+1` does in Martens' code.
public struct MinibatchSchedule: Sendable, Equatable {
    /// The fixed order of training cases.
    public let permutation: [Int]
    public let batchSize: Int

    /// - Parameters:
    ///   - cases: the number of training cases (> 0).
    ///   - batchSize: K, cases per curvature mini-batch (Table 1: 5000, 7500, 5175); clamped to `cases`.
    public init(cases: Int, batchSize: Int, seed: UInt64) {
        precondition(cases > 0 && batchSize > 0, "mini-batches need cases > 0 and batchSize > 0, got \(cases), \(batchSize)")
        var rng = SeededGenerator(seed: seed)
        permutation = rng.permutation(cases)
        self.batchSize = min(batchSize, cases)
    }

    /// The number of distinct batches.
    public var count: Int { (permutation.count + batchSize - 1) / batchSize }

    /// The case indices of batch `index mod count`.
    public func batch(_ index: Int) -> ArraySlice<Int> {
        let k = ((index % count) + count) % count
        return permutation[(k * batchSize)..<min((k + 1) * batchSize, permutation.count)]
    }

    /// The batch used at HF iteration `iteration` (0-based), round-robin.
    public func batch(forIteration iteration: Int) -> ArraySlice<Int> { batch(iteration) }

    /// Copies the rows `indices` of `m` into a new matrix, in that order.
    public static func gather(_ m: Matrix<Float>, rows indices: ArraySlice<Int>) -> Matrix<Float> {
        var out = Matrix<Float>(rows: indices.count, columns: m.columns)
        let d = m.columns
        m.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                for (r, i) in indices.enumerated() {
                    precondition(i >= 0 && i < m.rows, "row \(i) out of 0..<\(m.rows)")
                    (dst.baseAddress! + r * d).update(from: src.baseAddress! + i * d, count: d)
                }
            }
        }
        return out
    }
}
