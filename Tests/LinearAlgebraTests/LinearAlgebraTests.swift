import XCTest
@testable import LinearAlgebra

final class LinearAlgebraTests: XCTestCase {
    /// gemm in every transpose combination against a naive triple loop (Double, exact up to
    /// rounding: tolerance 1e-12 relative to the sum of |terms|).
    func testGemmMatchesNaiveProduct() {
        var rng = SeededGenerator(seed: 1)
        let (m, n, k) = (5, 4, 3)
        for ta in [Transpose.none, .transposed] {
            for tb in [Transpose.none, .transposed] {
                let a = Matrix<Double>(rows: ta == .none ? m : k, columns: ta == .none ? k : m,
                                       elements: (0..<(m * k)).map { _ in rng.normal() })
                let b = Matrix<Double>(rows: tb == .none ? k : n, columns: tb == .none ? n : k,
                                       elements: (0..<(k * n)).map { _ in rng.normal() })
                var c = Matrix<Double>(rows: m, columns: n, repeating: 1)
                a.withView { av in b.withView { bv in c.withMutableView { cv in
                    gemm(av, ta, bv, tb, into: cv, alpha: 2, beta: 0.5) } } }
                for i in 0..<m { for j in 0..<n {
                    var s = 0.0
                    for l in 0..<k {
                        let x = ta == .none ? a[i, l] : a[l, i]
                        let y = tb == .none ? b[l, j] : b[j, l]
                        s += x * y
                    }
                    XCTAssertEqual(c[i, j], 2 * s + 0.5, accuracy: 1e-12)
                } }
            }
        }
    }

    func testVectorLevelOneOperations() {
        var x = Vector<Float>([1, 2, 3])
        let y = Vector<Float>([4, -5, 6])
        XCTAssertEqual(x.dot(y), 12)
        XCTAssertEqual(x.norm, 14.0.squareRoot(), accuracy: 1e-6)
        x.add(y, scaledBy: 2)
        XCTAssertEqual(x.elements, [9, -8, 15])
        x.scale(by: 0.5)
        XCTAssertEqual(x.elements, [4.5, -4, 7.5])
        x.assign(y)
        XCTAssertEqual(x, y)
        x.setZero()
        XCTAssertEqual(x.elements, [0, 0, 0])
    }

    /// `isFinite` (a bit-pattern max reduction per type) against Swift's own `isFinite`, for
    /// every non-finite value at the first, a middle and the last position of vectors whose
    /// lengths straddle the vector width, next to the finite extremes (largest, smallest
    /// subnormal, -0) that must not trip it; and `Vector(zeros:)` is zeros of every length.
    func testIsFiniteAndZerosMatchTheScalarDefinitions() {
        func check<S: BLASScalar>(_: S.Type) {
            let edges: [S] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 1]
            for n in [0, 1, 2, 7, 8, 9, 17, 64, 100] {
                XCTAssertEqual(Vector<S>(zeros: n).elements, [S](repeating: 0, count: n))
                if n == 0 { XCTAssertTrue(Vector<S>(zeros: 0).isFinite); continue }
                let finite = Vector<S>((0..<n).map { edges[$0 % edges.count] })
                XCTAssertTrue(finite.isFinite, "\(S.typeName) n=\(n)")
                for bad in [S.infinity, -S.infinity, S.nan, -S.nan, S.signalingNaN] {
                    for position in Set([0, n / 2, n - 1]) {
                        var v = finite
                        v[position] = bad
                        XCTAssertFalse(v.isFinite, "\(S.typeName) n=\(n) \(bad) at \(position)")
                        XCTAssertEqual(v.isFinite, v.elements.allSatisfy { $0.isFinite })
                    }
                }
            }
        }
        check(Float.self)
        check(Double.self)
    }

    /// Float dot accumulates in Double (cblas_dsdot): a Float running sum of 1e6 terms drifts
    /// by ~1e-3 relative, the Double accumulator stays within the Float product rounding
    /// (~6e-8 relative per term, not accumulating).
    func testFloatDotAccumulatesInDouble() {
        let n = 1_000_000
        let x = Vector<Float>(repeating: 0.1, count: n)
        let exact = Double(Float(0.1)) * Double(Float(0.1)) * Double(n)
        var floatSum: Float = 0
        for v in x.elements { floatSum += v * v }
        XCTAssertGreaterThan(abs(Double(floatSum) - exact) / exact, 1e-5)
        XCTAssertEqual(x.dot(x), exact, accuracy: exact * 1e-7)
    }

    func testSeededGeneratorIsReproducibleAndNormalIsStandard() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        var g = SeededGenerator(seed: 7)
        let draws = (0..<20000).map { _ in g.normal() }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
        // 20000 draws: standard error of the mean ~0.007, of the variance ~0.01.
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
        var p = SeededGenerator(seed: 3)
        XCTAssertEqual(p.permutation(100).sorted(), Array(0..<100))
    }
}

final class SymmetricEigenTests: XCTestCase {
    /// A = Q' diag(5, 2, -1) Q for an orthonormal Q, built by hand: the values come back largest
    /// first, each row of `vectors` is the matching row of Q up to sign, and V' diag V
    /// rebuilds A.
    func testKnownDecomposition() throws {
        let q: [[Double]] = [[1, 2, 2], [2, 1, -2], [2, -2, 1]].map { $0.map { $0 / 3 } }
        let lambda: [Double] = [2, -1, 5]  // out of order on purpose
        var a = Matrix<Double>(rows: 3, columns: 3)
        for i in 0..<3 { for j in 0..<3 { a.storage[i * 3 + j] = (0..<3).reduce(0) { $0 + q[$1][i] * lambda[$1] * q[$1][j] } } }
        let eigen = try XCTUnwrap(SymmetricEigen(a))
        XCTAssertEqual(eigen.values[0], 5, accuracy: 1e-12)
        XCTAssertEqual(eigen.values[1], 2, accuracy: 1e-12)
        XCTAssertEqual(eigen.values[2], -1, accuracy: 1e-12)
        for (row, source) in [(0, 2), (1, 0), (2, 1)] {
            let v = (0..<3).map { eigen.vectors.storage[row * 3 + $0] }
            let sign = v[0] * q[source][0] + v[1] * q[source][1] + v[2] * q[source][2] > 0 ? 1.0 : -1.0
            for j in 0..<3 { XCTAssertEqual(sign * v[j], q[source][j], accuracy: 1e-12, "vector \(row)") }
        }
        for i in 0..<3 {
            for j in 0..<3 {
                let rebuilt = (0..<3).reduce(0.0) { $0 + eigen.vectors.storage[$1 * 3 + i] * eigen.values[$1] * eigen.vectors.storage[$1 * 3 + j] }
                XCTAssertEqual(rebuilt, a.storage[i * 3 + j], accuracy: 1e-12)
            }
        }
    }

    /// It runs LAPACK on one thread and gives the caller's thread count back.
    func testRestoresTheBLASThreadCount() throws {
        let before = BLASThreads.current
        defer { BLASThreads.set(before) }
        BLASThreads.set(2)
        let wanted = BLASThreads.current
        guard wanted > 1 else { throw XCTSkip("OpenBLAS allows one thread here, so a lost setting cannot show") }
        XCTAssertNotNil(SymmetricEigen(Matrix<Double>(rows: 2, columns: 2, elements: [2, 1, 1, 2])))
        XCTAssertEqual(BLASThreads.current, wanted)
    }

    func testNonFiniteInputGivesNil() {
        XCTAssertNil(SymmetricEigen(Matrix<Double>(rows: 2, columns: 2, elements: [1, .infinity, .infinity, 1])))
        XCTAssertEqual(SymmetricEigen(Matrix<Double>(rows: 0, columns: 0))?.values, [])
    }
}
