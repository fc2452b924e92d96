import XCTest
import LinearAlgebra
@testable import Optimization

final class ShardReducerTests: XCTestCase {
    /// A fake two-shard reducer doubles every sum; the generic vector entry point must reach it.
    struct Doubling: ShardReducer {
        func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) { for i in values.indices { values[i] *= 2 } }
        func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) { for i in values.indices { values[i] *= 2 } }
    }
    func testVectorAndScalarSumsPassThroughTheSeam() {
        var v = Vector<Float>([1, 2])
        Doubling().sumAcrossShards(&v)
        XCTAssertEqual(v.elements, [2, 4])
        XCTAssertEqual(Doubling().sumAcrossShards(1.5), 3)
        var w = Vector<Double>([1, 2])
        LocalShards().sumAcrossShards(&w)
        XCTAssertEqual(w.elements, [1, 2])
    }

    /// Shard 2 of 4 holding 5 cases, the others 3, 4 and 6: it starts at global case 7 of 18.
    func testCaseOffsetAndTotalFromEachShardsCount() {
        struct ThirdOfFour: ShardReducer {
            var shardIndex: Int { 2 }
            var shardCount: Int { 4 }
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) {}
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) {
                for (i, other) in [3.0, 4, 0, 6].enumerated() { values[i] += other }
            }
        }
        let (offset, total) = ThirdOfFour().caseOffsetAndTotal(localCount: 5)
        XCTAssertEqual(offset, 7)
        XCTAssertEqual(total, 18)
        XCTAssertEqual(LocalShards().caseOffsetAndTotal(localCount: 9).offset, 0)
        XCTAssertEqual(LocalShards().caseOffsetAndTotal(localCount: 9).total, 9)
    }
}
