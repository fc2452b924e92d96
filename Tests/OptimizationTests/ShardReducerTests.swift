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
}
