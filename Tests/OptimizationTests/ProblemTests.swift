import XCTest
import LinearAlgebra
@testable import Optimization

/// The shipped problems against independent references: central-difference gradients and
/// explicit matrices built column by column.
final class ProblemTests: XCTestCase {
    /// Central differences with h = 1e-6 in Double: truncation O(h^2 f''') plus rounding
    /// O(eps f / h) ~ 1e-10 relative; 1e-6 relative to the gradient scale is safe and still fails
    /// on any wrong term.
    let gradientTolerance = 1e-6
    /// Curvature products are exact formulas; only summation order differs from the reference.
    let productTolerance = 1e-10

    func checkGradient<O: HFObjective>(_ p: O, at x: [Double], file: StaticString = #filePath, line: UInt = #line) throws
    where O.Scalar == Double {
        let e = try p.evaluate(at: Vector(x), squaredGradientDiagonal: false)
        XCTAssertEqual(e.value, p.value(at: Vector(x), cases: .all), accuracy: 1e-12 * max(1, abs(e.value)), file: file, line: line)
        let fd = finiteDifferenceGradient({ p.value(at: Vector($0), cases: .all) }, at: x)
        let scale = max(1, fd.map(abs).max()!)
        for i in 0..<x.count {
            XCTAssertEqual(e.gradient[i], fd[i], accuracy: gradientTolerance * scale, "gradient[\(i)]", file: file, line: line)
        }
    }

    func testRosenbrockGradientHessianAndGaussNewton() throws {
        let p = RosenbrockProblem<Double>(dimension: 5)
        let x = [-1.2, 1, 0.3, -0.7, 2]
        try checkGradient(p, at: x)
        XCTAssertEqual(p.value(at: Vector([1, 1, 1, 1, 1]), cases: .all), 0)
        XCTAssertEqual(RosenbrockProblem<Double>(dimension: 2).value(at: Vector([-1.2, 1]), cases: .all), 24.2, accuracy: 1e-12)  // classic f(-1.2, 1)
        // Hessian against differences of the exact gradient.
        let h = explicitMatrix(try p.curvature(.hessian, at: Vector(x), cases: .all), dimension: 5)
        for j in 0..<5 {
            let col = finiteDifferenceGradient({ v in (try! p.evaluate(at: Vector(v), squaredGradientDiagonal: false)).gradient[j] }, at: x)
            for i in 0..<5 { XCTAssertEqual(h[i][j], col[i], accuracy: 1e-5 * 1000, "H[\(i)][\(j)]") }
        }
        // Gauss-Newton against 2 J'J with J written out.
        var jac = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 8)
        for i in 0..<4 {
            jac[2 * i][i] = -20 * x[i]; jac[2 * i][i + 1] = 10
            jac[2 * i + 1][i] = -1
        }
        let g = explicitMatrix(try p.curvature(.gaussNewton, at: Vector(x), cases: .all), dimension: 5)
        for i in 0..<5 { for j in 0..<5 {
            let ref = 2 * (0..<8).reduce(0.0) { $0 + jac[$1][i] * jac[$1][j] }
            XCTAssertEqual(g[i][j], ref, accuracy: productTolerance * max(1, abs(ref)))
        } }
        // Finite-difference products against the exact Hessian (central differences with
        // eps ~ 1.5e-8 (1 + |x|): error ~ 1e-6 relative to entries of size 1000).
        let fd = explicitMatrix(try p.curvature(.finiteDifference, at: Vector(x), cases: .all), dimension: 5)
        for i in 0..<5 { for j in 0..<5 { XCTAssertEqual(fd[i][j], h[i][j], accuracy: 1e-5 * 1000) } }
        // At the minimizer the residuals vanish: G = H.
        let one = Vector<Double>([1, 1, 1, 1, 1])
        XCTAssertEqual(explicitMatrix(try p.curvature(.gaussNewton, at: one, cases: .all), dimension: 5),
                       explicitMatrix(try p.curvature(.hessian, at: one, cases: .all), dimension: 5))
    }

    func testLinearModelsGradientsCurvaturesAndSquaredGradients() throws {
        let ls = LinearLeastSquaresProblem<Double>.synthetic(cases: 30, features: 4, weightCost: 0.01, seed: 3)
        let lr = LogisticRegressionProblem<Double>.synthetic(cases: 30, features: 4, weightCost: 0.01, seed: 4)
        let x = [0.3, -0.2, 0.5, 0.1]
        try checkGradient(ls, at: x)
        try checkGradient(lr, at: x)
        let batch = [3, 17, 0, 29, 8]
        for (name, p, loss) in [("least squares", ls.core, LinearModelLoss.squaredError), ("logistic", lr.core, .logistic)] {
            // Per-case quantities written out.
            func perCase(_ i: Int) -> (grad: [Double], h: Double) {
                let row = (0..<4).map { p.inputs[i, $0] }
                let z = zip(row, x).map(*).reduce(0, +)
                let (_, e, h) = loss.terms(z, p.targets[i])
                return (row.map { e * $0 }, h)
            }
            for kind in [CurvatureKind.gaussNewton, .hessian, .fisher] {
                let b = explicitMatrix(try p.curvature(kind, at: Vector(x), cases: .indices(batch)), dimension: 4)
                for i in 0..<4 { for j in 0..<4 {
                    var ref = 0.0
                    for c in batch {
                        let (g, h) = perCase(c)
                        let row = (0..<4).map { p.inputs[c, $0] }
                        ref += kind == .fisher ? g[i] * g[j] : h * row[i] * row[j]
                    }
                    ref = ref / Double(batch.count) + (i == j ? 0.01 : 0)
                    XCTAssertEqual(b[i][j], ref, accuracy: productTolerance * max(1, abs(ref)), "\(name) \(kind) [\(i)][\(j)]")
                } }
            }
            // Squared-gradient diagonal: mean over all cases of per-case g_i^2, regularizer excluded.
            let g2 = try p.evaluate(Vector(x), squaredGradientDiagonal: true).squaredGradientDiagonal!
            for j in 0..<4 {
                let ref = (0..<30).map { perCase($0).grad[j] * perCase($0).grad[j] }.reduce(0, +) / 30
                XCTAssertEqual(g2[j], ref, accuracy: productTolerance * max(1, ref), "\(name) g2[\(j)]")
            }
            // The batch objective is the mean over the batch plus the regularizer.
            let full = p.value(Vector(x), cases: .all)
            let all = p.value(Vector(x), cases: .indices(Array(0..<30)))
            XCTAssertEqual(full, all, accuracy: 1e-12)
        }
        // Logistic GN equals the Hessian: compare with differences of the gradient.
        let h = explicitMatrix(try lr.curvature(.gaussNewton, at: Vector(x), cases: .all), dimension: 4)
        for j in 0..<4 {
            let col = finiteDifferenceGradient({ v in (try! lr.evaluate(at: Vector(v), squaredGradientDiagonal: false)).gradient[j] }, at: x)
            for i in 0..<4 { XCTAssertEqual(h[i][j], col[i], accuracy: 1e-6 * max(1, abs(col[i]))) }
        }
    }

    func testQuadraticAndUnsupportedCurvature() throws {
        let q = QuadraticProblem<Double>.random(dimension: 6, conditionNumber: 50, seed: 5)
        try checkGradient(q, at: [0.1, 0.2, -0.3, 0.4, 0.5, -0.6])
        let star = choleskySolve(q.matrix, q.linearTerm.elements)
        XCTAssertLessThan(try q.evaluate(at: Vector(star), squaredGradientDiagonal: false).gradient.norm, 1e-10)
        let ls = LinearLeastSquaresProblem<Double>.synthetic(cases: 5, features: 2, seed: 1)
        XCTAssertThrowsError(try ls.curvature(.finiteDifference, at: Vector(zeros: 2), cases: .all)) { error in
            XCTAssertEqual(error as? ObjectiveError, .unsupportedCurvature(.finiteDifference, supported: ls.supportedCurvatures))
        }
        // Finite differences of gradients reproduce A (a quadratic: only rounding, ~1e-8 relative).
        let fd = explicitMatrix(try q.curvature(.finiteDifference, at: Vector(star), cases: .all), dimension: 6)
        for i in 0..<6 { for j in 0..<6 { XCTAssertEqual(fd[i][j], q.matrix[i, j], accuracy: 1e-6 * 50) } }
        XCTAssertThrowsError(try q.evaluate(at: Vector(zeros: 5), squaredGradientDiagonal: false))
    }
}
