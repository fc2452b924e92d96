import Foundation
import XCTest
import LinearAlgebra
@testable import Datasets

/// Shards of a data set for data-parallel runs (issue 13).
final class DataShardTests: TemporaryDirectoryTestCase {
    func testShardsPartitionEveryCaseInOrder() {
        for total in [0, 1, 7, 10, 301] {
            for count in 1...5 {
                let blocks = (0..<count).map { DataShard(index: $0, count: count).rows(of: total) }
                XCTAssertEqual(blocks.first?.lowerBound, 0)
                XCTAssertEqual(blocks.last?.upperBound, total)
                for (a, b) in zip(blocks, blocks.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = blocks.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "blocks differ by at most one case")
            }
        }
        XCTAssertEqual(DataShard.whole.rows(of: 9), 0..<9)
    }

    func testDatasetShardCutsEverySplitAlike() {
        let train = Matrix<Float>(rows: 5, columns: 2, elements: (0..<10).map(Float.init))
        let test = Matrix<Float>(rows: 3, columns: 2, elements: (0..<6).map { Float(100 + $0) })
        let d = Dataset(name: "d", train: train, test: test, trainLabels: [0, 1, 2, 3, 4], testLabels: [7, 8, 9])
        let second = d.shard(DataShard(index: 1, count: 2))
        XCTAssertEqual(second.train, Matrix(rows: 3, columns: 2, elements: [4, 5, 6, 7, 8, 9]))
        XCTAssertEqual(second.test, Matrix(rows: 2, columns: 2, elements: [102, 103, 104, 105]))
        XCTAssertEqual(second.trainLabels, [2, 3, 4])
        XCTAssertEqual(second.testLabels, [8, 9])
        XCTAssertEqual(d.shard(.whole).train, train)
    }

    func testNPYShardIsTheSliceOfTheWholeFileAndChecksOnlyItsRows() throws {
        var values = (0..<(11 * 3)).map { Float($0) / 7 }
        values[10 * 3 + 1] = .nan   // in the last row only
        let url = directory.appendingPathComponent("m.npy")
        try NPY.write(Matrix(rows: 11, columns: 3, elements: values), to: url)
        let first = try NPY.read(url, shard: DataShard(index: 0, count: 2))
        XCTAssertEqual(first.totalRows, 11)
        XCTAssertEqual(first.matrix, Matrix(rows: 5, columns: 3, elements: Array(values[0..<15])))
        XCTAssertThrowsError(try NPY.read(url, shard: DataShard(index: 1, count: 2))) { error in
            XCTAssertEqual(error as? DatasetError, .nonFinite(url.path, row: 11, column: 2), "the row is the file's, not the block's")
        }
        XCTAssertThrowsError(try NPY.read(url))
        XCTAssertThrowsError(try NPY.read(directory.appendingPathComponent("missing.npy"), shard: DataShard(index: 0, count: 2))) { error in
            XCTAssertEqual(error as? DatasetError, .missingFile(self.directory.appendingPathComponent("missing.npy").path))
        }
    }

    func testShardedUserDataChecksRowCountsOfWholeFiles() throws {
        let inputs = directory.appendingPathComponent("x.npy"), targets = directory.appendingPathComponent("t.npy")
        try NPY.write(Matrix(rows: 10, columns: 2, elements: (0..<20).map(Float.init)), to: inputs)
        // 11 rows of targets for 10 cases: each shard of 2 holds 5 of each, but the files disagree.
        try NPY.write(Matrix(rows: 11, columns: 1, elements: (0..<11).map(Float.init)), to: targets)
        XCTAssertThrowsError(try UserData.load(trainInputs: inputs, trainTargets: targets, shard: DataShard(index: 0, count: 2)))
        try NPY.write(Matrix(rows: 10, columns: 1, elements: (0..<10).map(Float.init)), to: targets)
        let d = try UserData.load(trainInputs: inputs, trainTargets: targets, shard: DataShard(index: 1, count: 2))
        XCTAssertEqual(d.train, Matrix(rows: 5, columns: 2, elements: (10..<20).map(Float.init)))
        XCTAssertEqual(d.trainTargets, Matrix(rows: 5, columns: 1, elements: (5..<10).map(Float.init)))
    }
}
