import XCTest
import LinearAlgebra
@testable import Optimization

/// Solves A x = b for SPD A by Cholesky, in Double: the independent reference for CG.
func choleskySolve(_ a: Matrix<Double>, _ b: [Double]) -> [Double] {
    let n = b.count
    var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n {
        for j in 0...i {
            var s = a[i, j]
            for k in 0..<j { s -= l[i][k] * l[j][k] }
            l[i][j] = i == j ? s.squareRoot() : s / l[j][j]
        }
    }
    var y = [Double](repeating: 0, count: n)
    for i in 0..<n { var s = b[i]; for k in 0..<i { s -= l[i][k] * y[k] }; y[i] = s / l[i][i] }
    var x = [Double](repeating: 0, count: n)
    for i in stride(from: n - 1, through: 0, by: -1) {
        var s = y[i]; for k in (i + 1)..<n { s -= l[k][i] * x[k] }; x[i] = s / l[i][i]
    }
    return x
}

/// |a - b| / |b|.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    let d = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
    let n = b.map { $0 * $0 }.reduce(0, +).squareRoot()
    return d / max(n, .leastNormalMagnitude)
}

/// A x for an explicit matrix.
func multiply(_ a: Matrix<Double>, _ x: [Double]) -> [Double] {
    (0..<a.rows).map { i in (0..<a.columns).reduce(0.0) { $0 + a[i, $1] * x[$1] } }
}

/// The full matrix of a curvature operator, column by column (B e_j).
func explicitMatrix(_ op: any CurvatureOperator<Double>, dimension n: Int) -> [[Double]] {
    var columns: [[Double]] = []
    for j in 0..<n {
        var e = Vector<Double>(zeros: n); e[j] = 1
        var out = Vector<Double>(zeros: n)
        op.apply(e, into: &out)
        columns.append(out.elements)
    }
    return (0..<n).map { i in (0..<n).map { j in columns[j][i] } }
}

/// Central-difference gradient of `f`.
func finiteDifferenceGradient(_ f: ([Double]) -> Double, at x: [Double], step h: Double = 1e-6) -> [Double] {
    (0..<x.count).map { i in
        var a = x, b = x
        a[i] += h; b[i] -= h
        return (f(a) - f(b)) / (2 * h)
    }
}

/// A wrapper that makes the objective NaN outside the ball |x - center| <= radius (value and
/// evaluation), to test that such steps are never applied. Curvature is the wrapped problem's.
final class NaNOutsideBall: HFObjective {
    let inner: QuadraticProblem<Double>
    let center: [Double]
    let radius: Double
    var nanGradient = false
    init(inner: QuadraticProblem<Double>, center: [Double], radius: Double) {
        self.inner = inner; self.center = center; self.radius = radius
    }
    var parameterCount: Int { inner.parameterCount }
    var caseCount: Int { 1 }
    var supportedCurvatures: [CurvatureKind] { inner.supportedCurvatures }
    func outside(_ x: Vector<Double>) -> Bool {
        zip(x.elements, center).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) > radius * radius
    }
    func evaluate(at parameters: Vector<Double>, squaredGradientDiagonal: Bool) throws -> Evaluation<Double> {
        var e = try inner.evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal)
        if outside(parameters) { e.value = .nan }
        if nanGradient { e.gradient[0] = .nan }
        return e
    }
    func value(at parameters: Vector<Double>, cases: CaseSelection) -> Double {
        outside(parameters) ? .nan : inner.value(at: parameters, cases: cases)
    }
    func curvature(_ kind: CurvatureKind, at parameters: Vector<Double>, cases: CaseSelection) throws -> any CurvatureOperator<Double> {
        try inner.curvature(kind, at: parameters, cases: cases)
    }
}
