import LinearAlgebra
@testable import Optimization

/// Test-only objectives with known minimizers (the shared toy problems are written elsewhere).
/// All are Double, so tolerances reflect the methods, not Float rounding.
final class TestObjective: StochasticObjective {
    typealias Scalar = Double
    let parameterCount: Int
    let caseCount: Int
    /// The known minimizer.
    let minimizer: [Double]
    /// Value and gradient on a case selection.
    let compute: ([Double], CaseSelection) -> (Double, [Double])
    var supportedCurvatures: [CurvatureKind] { [] }
    /// valueAndGradient calls, to check the optimizers' own counters.
    var calls = 0

    init(parameterCount: Int, caseCount: Int, minimizer: [Double],
         compute: @escaping ([Double], CaseSelection) -> (Double, [Double])) {
        self.parameterCount = parameterCount; self.caseCount = caseCount
        self.minimizer = minimizer; self.compute = compute
    }

    func valueAndGradient(at parameters: Vector<Double>, cases: CaseSelection) throws -> (value: Double, gradient: Vector<Double>) {
        calls += 1
        let (f, g) = compute(parameters.elements, cases)
        return (f, Vector(g))
    }
    func evaluate(at parameters: Vector<Double>, squaredGradientDiagonal: Bool) throws -> Evaluation<Double> {
        let (f, g) = compute(parameters.elements, .all)
        return Evaluation(value: f, gradient: Vector(g))
    }
    func value(at parameters: Vector<Double>, cases: CaseSelection) -> Double { compute(parameters.elements, cases).0 }
    func curvature(_ kind: CurvatureKind, at parameters: Vector<Double>, cases: CaseSelection) throws -> any CurvatureOperator<Double> {
        throw ObjectiveError.unsupportedCurvature(kind, supported: [])
    }

    /// f(x) = 1/2 (x - x*)' A (x - x*), A = Q diag(1 ... kappa) Q with Q a Householder
    /// reflection, so the condition number is exactly kappa and f* = 0 at x*.
    static func rotatedQuadratic(dimension n: Int, conditionNumber kappa: Double, seed: UInt64) -> TestObjective {
        var rng = SeededGenerator(seed: seed)
        let u = (0..<n).map { _ in rng.normal() }
        let uu = u.reduce(0) { $0 + $1 * $1 }
        let q = (0..<n).map { i in (0..<n).map { j in (i == j ? 1 : 0) - 2 * u[i] * u[j] / uu } }
        let eig = (0..<n).map { i in 1 + (kappa - 1) * Double(i) / Double(n - 1) }
        let a = (0..<n).map { i in (0..<n).map { j in (0..<n).reduce(0.0) { $0 + q[i][$1] * eig[$1] * q[$1][j] } } }
        let xStar = (0..<n).map { _ in rng.normal() }
        return TestObjective(parameterCount: n, caseCount: 1, minimizer: xStar) { x, _ in
            let r = (0..<n).map { x[$0] - xStar[$0] }
            let g = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + a[i][$1] * r[$1] } }
            return (0.5 * zip(r, g).reduce(0) { $0 + $1.0 * $1.1 }, g)
        }
    }

    /// The extended Rosenbrock function sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2;
    /// minimum 0 at (1, ..., 1).
    static func rosenbrock(dimension: Int) -> TestObjective {
        TestObjective(parameterCount: dimension, caseCount: 1, minimizer: Array(repeating: 1, count: dimension)) { x, _ in
            var f = 0.0
            var g = [Double](repeating: 0, count: x.count)
            for i in 0..<(x.count - 1) {
                let t = x[i + 1] - x[i] * x[i], u = 1 - x[i]
                f += 100 * t * t + u * u
                g[i] += -400 * x[i] * t - 2 * u
                g[i + 1] += 200 * t
            }
            return (f, g)
        }
    }

    /// Consistent least squares over cases: f = mean_i 1/2 (a_i . x - y_i)^2 with
    /// y_i = a_i . x*, so every mini-batch gradient vanishes at x* and stochastic methods
    /// converge exactly.
    static func leastSquares(cases: Int, dimension: Int, seed: UInt64) -> TestObjective {
        var rng = SeededGenerator(seed: seed)
        let rows = (0..<cases).map { _ in (0..<dimension).map { _ in rng.normal() } }
        let xStar = (0..<dimension).map { _ in rng.normal() }
        let targets = rows.map { r in zip(r, xStar).reduce(0) { $0 + $1.0 * $1.1 } }
        return TestObjective(parameterCount: dimension, caseCount: cases, minimizer: xStar) { x, selection in
            let indices: [Int]
            switch selection {
            case .all: indices = Array(0..<cases)
            case .indices(let i): indices = i
            }
            var f = 0.0
            var g = [Double](repeating: 0, count: x.count)
            for c in indices {
                let r = zip(rows[c], x).reduce(0) { $0 + $1.0 * $1.1 } - targets[c]
                f += 0.5 * r * r
                for j in 0..<x.count { g[j] += r * rows[c][j] }
            }
            let scale = 1 / Double(indices.count)
            return (f * scale, g.map { $0 * scale })
        }
    }
}

/// Largest |x_i - y_i|.
func maxDistance(_ x: [Double], _ y: [Double]) -> Double {
    zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Runs `steps` steps of `optimizer` from `state`, returning the final state and all records.
func runSteps<O: FirstOrderOptimizer>(_ optimizer: O, from state: O.State, on objective: some StochasticObjective<O.Scalar>,
                                 steps: Int) throws -> (O.State, [FirstOrderRecord]) {
    var s = state
    var records: [FirstOrderRecord] = []
    for _ in 0..<steps {
        let (next, r) = try optimizer.step(s, objective: objective)
        s = next
        records.append(r)
    }
    return (s, records)
}
