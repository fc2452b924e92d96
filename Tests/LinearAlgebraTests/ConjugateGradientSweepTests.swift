import XCTest
@testable import LinearAlgebra

/// The fused CG sweep against the same step written out in Double, element by element.
final class ConjugateGradientSweepTests: XCTestCase {
    /// Lengths with every tail (n mod 4 = 0...3), with and without a preconditioner, in
    /// Float and Double: the updated x, r, y and the three dot products.
    func testSweepMatchesTheStepWrittenOutInDouble() {
        var rng = SeededGenerator(seed: 7)
        for n in [1, 2, 3, 4, 5, 7, 64, 1001] {
            for preconditioned in [false, true] {
                let x0 = (0..<n).map { _ in rng.normal() }, r0 = (0..<n).map { _ in rng.normal() }
                let p = (0..<n).map { _ in rng.normal() }, ap = (0..<n).map { _ in rng.normal() }
                let b = (0..<n).map { _ in rng.normal() }
                let m = (0..<n).map { _ in 0.5 + abs(rng.normal()) }
                let alpha = 0.37
                // The reference, in Double from the Float-rounded inputs.
                let f = { (v: [Double]) in v.map { Double(Float($0)) } }
                let (xf, rf, pf, apf, bf, mf) = (f(x0), f(r0), f(p), f(ap), f(b), f(m))
                let xs = (0..<n).map { xf[$0] + Double(Float(alpha)) * pf[$0] }
                let rs = (0..<n).map { rf[$0] + Double(Float(alpha)) * apf[$0] }
                let ys = (0..<n).map { preconditioned ? rs[$0] / mf[$0] : rs[$0] }
                let dot = { (u: [Double], v: [Double]) in zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
                let scale = dot(rs.map(abs), ys.map(abs)) + dot(rs.map(abs), xs.map(abs)) + dot(bf.map(abs), xs.map(abs)) + 1

                var x = Vector<Float>(x0.map(Float.init)), r = Vector<Float>(r0.map(Float.init))
                var y = Vector<Float>(zeros: n)
                let sums = Vector.conjugateGradientStep(
                    x: &x, r: &r, y: &y, p: Vector(p.map(Float.init)), ap: Vector(ap.map(Float.init)), alpha: Float(alpha),
                    preconditioner: preconditioned ? Vector(m.map(Float.init)) : nil, b: Vector(b.map(Float.init)))
                for i in 0..<n {
                    XCTAssertEqual(Double(x[i]), xs[i], accuracy: 1e-6 * (1 + abs(xs[i])), "x[\(i)], n \(n)")
                    XCTAssertEqual(Double(r[i]), rs[i], accuracy: 1e-6 * (1 + abs(rs[i])), "r[\(i)], n \(n)")
                    XCTAssertEqual(Double(y[i]), ys[i], accuracy: 1e-6 * (1 + abs(ys[i])), "y[\(i)], n \(n)")
                }
                XCTAssertEqual(sums.ry, dot(rs, ys), accuracy: 1e-6 * scale, "r.y, n \(n)")
                XCTAssertEqual(sums.rx, dot(rs, xs), accuracy: 1e-6 * scale, "r.x, n \(n)")
                XCTAssertEqual(sums.bx, dot(bf, xs), accuracy: 1e-6 * scale, "b.x, n \(n)")

                // Double storage: the same step to rounding.
                var xd = Vector<Double>(xf), rd = Vector<Double>(rf), yd = Vector<Double>(zeros: n)
                let sumsD = Vector.conjugateGradientStep(
                    x: &xd, r: &rd, y: &yd, p: Vector(pf), ap: Vector(apf), alpha: Double(Float(alpha)),
                    preconditioner: preconditioned ? Vector(mf) : nil, b: Vector(bf))
                for i in 0..<n {
                    XCTAssertEqual(xd[i], xs[i], accuracy: 1e-14 * (1 + abs(xs[i])))
                    XCTAssertEqual(yd[i], ys[i], accuracy: 1e-14 * (1 + abs(ys[i])))
                }
                XCTAssertEqual(sumsD.ry, dot(rs, ys), accuracy: 1e-12 * scale)
                XCTAssertEqual(sumsD.rx, dot(rs, xs), accuracy: 1e-12 * scale)
                XCTAssertEqual(sumsD.bx, dot(bf, xs), accuracy: 1e-12 * scale)
            }
        }
    }

    func testScaleSubtractAndEmptyVectors() {
        var p = Vector<Float>([1, -2, 3, 4, 5])
        p.scale(by: 0.5, subtracting: Vector([1, 1, 1, 1, -1]))
        XCTAssertEqual(p.elements, [-0.5, -2, 0.5, 1, 3.5])
        var e = Vector<Float>(zeros: 0)
        e.scale(by: 2, subtracting: Vector(zeros: 0))
        var (x, r, y) = (Vector<Float>(zeros: 0), Vector<Float>(zeros: 0), Vector<Float>(zeros: 0))
        let sums = Vector.conjugateGradientStep(x: &x, r: &r, y: &y, p: e, ap: e, alpha: 1, preconditioner: nil, b: e)
        XCTAssertEqual(sums.ry, 0); XCTAssertEqual(sums.rx, 0); XCTAssertEqual(sums.bx, 0)
    }

    /// A NaN in the product reaches r, y and the sums (CG's next p.Ap is then NaN and it stops).
    func testNaNPropagates() {
        var x = Vector<Float>([1, 2, 3, 4, 5]), r = Vector<Float>([1, 1, 1, 1, 1]), y = Vector<Float>(zeros: 5)
        let sums = Vector.conjugateGradientStep(x: &x, r: &r, y: &y, p: Vector(repeating: 1, count: 5),
                                                ap: Vector([0, 0, .nan, 0, 0]), alpha: 1, preconditioner: nil,
                                                b: Vector(repeating: 1, count: 5))
        XCTAssertTrue(r[2].isNaN); XCTAssertTrue(y[2].isNaN); XCTAssertTrue(sums.ry.isNaN)
        XCTAssertEqual(x.elements, [2, 3, 4, 5, 6])
    }
}
