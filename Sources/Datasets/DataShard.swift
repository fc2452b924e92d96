import Foundation
import LinearAlgebra

/// One process's part of a data set in a data-parallel run: shard `index` of `count` holds
/// the consecutive block of cases `total * index / count ..< total * (index + 1) / count`
/// of every split, so shard 0 holds the first cases and the blocks differ in size by at most
/// one case. `whole` (shard 0 of 1) is the data set itself.
public struct DataShard: Sendable, Equatable, Codable {
    public let index: Int
    public let count: Int

    public static let whole = DataShard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "shard \(index) of \(count)")
        self.index = index; self.count = count
    }

    /// The rows of a split of `total` cases this shard holds.
    public func rows(of total: Int) -> Range<Int> {
        // Int products: total * count stays far below Int.max for any data set in memory.
        (total * index / count)..<(total * (index + 1) / count)
    }
}

extension Matrix {
    /// A copy of rows `range`.
    public func rows(_ range: Range<Int>) -> Matrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of a \(rows)-row matrix")
        return Matrix(rows: range.count, columns: columns,
                      elements: Array(storage[(range.lowerBound * columns)..<(range.upperBound * columns)]))
    }
}

extension Dataset {
    /// The block of every split (inputs, targets, labels) that `shard` holds; the data set
    /// itself for `.whole`.
    public func shard(_ shard: DataShard) -> Dataset {
        if shard == .whole { return self }
        func cut(_ m: Matrix<Float>) -> Matrix<Float> { m.rows(shard.rows(of: m.rows)) }
        func cut(_ labels: [Int]) -> [Int] { Array(labels[shard.rows(of: labels.count)]) }
        var d = self
        d.train = cut(train); d.test = cut(test); d.validation = validation.map(cut)
        d.trainTargets = trainTargets.map(cut); d.testTargets = testTargets.map(cut)
        d.validationTargets = validationTargets.map(cut)
        d.trainLabels = trainLabels.map(cut); d.testLabels = testLabels.map(cut)
        return d
    }
}
