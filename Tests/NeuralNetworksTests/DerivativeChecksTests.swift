import XCTest
import LinearAlgebra
import Optimization
@testable import NeuralNetworks

/// The reusable checkers accept a correct objective and reject a broken one.
final class DerivativeChecksTests: XCTestCase {
    /// f(x) = sum x^3 / 3 with a gradient that is wrong in one coordinate when `broken`.
    final class Cubic: HFObjective {
        typealias Scalar = Double
        let broken: Bool
        init(broken: Bool) { self.broken = broken }
        var parameterCount: Int { 3 }
        var caseCount: Int { 1 }
        var supportedCurvatures: [CurvatureKind] { [.hessian] }
        func evaluate(at x: Vector<Double>, squaredGradientDiagonal: Bool) throws -> Evaluation<Double> {
            var g = Vector(x.elements.map { $0 * $0 })
            if broken { g[1] *= 1.01 }
            return Evaluation(value: value(at: x, cases: .all), gradient: g)
        }
        func value(at x: Vector<Double>, cases: CaseSelection) -> Double { x.elements.map { $0 * $0 * $0 / 3 }.reduce(0, +) }
        final class Diagonal: CurvatureOperator {
            let kind = CurvatureKind.hessian
            let d: [Double]
            init(_ d: [Double]) { self.d = d }
            func apply(_ v: Vector<Double>, into r: inout Vector<Double>) { for i in 0..<v.count { r[i] = d[i] * v[i] } }
        }
        func curvature(_ kind: CurvatureKind, at x: Vector<Double>, cases: CaseSelection) throws -> any CurvatureOperator<Double> {
            Diagonal(x.elements.map { 2 * $0 * (broken ? 1.5 : 1) })
        }
    }

    func testCheckersSeparateCorrectFromBroken() throws {
        let x = Vector<Double>([0.5, -1.5, 2])
        let v = Vector<Double>([1, 2, -1])
        for broken in [false, true] {
            let f = Cubic(broken: broken)
            let gradientError = try DerivativeChecks.gradientError(of: f, at: x)
            let productError = try DerivativeChecks.curvatureProductError(of: f, curvature: try f.curvature(.hessian, at: x, cases: .all), at: x, direction: v)
            if broken {
                XCTAssertGreaterThan(gradientError, 1e-3)
                XCTAssertGreaterThan(productError, 1e-2)
            } else {
                XCTAssertLessThan(gradientError, 1e-9)
                XCTAssertLessThan(productError, 1e-9)
            }
        }
    }

    func testCheckersOnANetwork() throws {
        let p = SmallProblem<Double>(hidden: .tanh, output: .softmax)
        let f = p.objective(weightCost: 0.01)
        XCTAssertLessThan(try DerivativeChecks.gradientError(of: f, at: p.parameters, indices: [0, 7, 30, 54]), 1e-7)
        let h = try f.curvature(.hessian, at: p.parameters, cases: .all)
        XCTAssertLessThan(try DerivativeChecks.curvatureProductError(of: f, curvature: h, at: p.parameters, direction: p.randomVector(seed: 4)), 1e-7)
        XCTAssertLessThan(DerivativeChecks.asymmetry(of: h, p.randomVector(seed: 5), p.randomVector(seed: 6)), 1e-13)
        let g = try f.curvature(.gaussNewton, at: p.parameters, cases: .all)
        XCTAssertLessThan(DerivativeChecks.asymmetry(of: g, p.randomVector(seed: 5), p.randomVector(seed: 6)), 1e-13)
        // Gauss-Newton is not the Hessian: the product check must notice.
        XCTAssertGreaterThan(try DerivativeChecks.curvatureProductError(of: f, curvature: g, at: p.parameters, direction: p.randomVector(seed: 4)), 1e-4)
    }
}
