import LinearAlgebra

/// The per-case loss of a linear model on margin z = x'theta with target t.
enum LinearModelLoss: Sendable {
    /// l = 1/2 (z - t)^2.
    case squaredError
    /// l = log(1 + e^z) - t z (Bernoulli cross-entropy with logistic link), t in [0, 1].
    case logistic

    /// (loss, dl/dz, d2l/dz2), computed stably.
    @inline(__always) func terms(_ z: Double, _ t: Double) -> (Double, Double, Double) {
        switch self {
        case .squaredError:
            let e = z - t
            return (0.5 * e * e, e, 1)
        case .logistic:
            // softplus(z) = max(z, 0) + log(1 + e^{-|z|}); sigma(z) without overflow.
            let softplus = max(z, 0) + log1pDouble(expDouble(-abs(z)))
            let s = z >= 0 ? 1 / (1 + expDouble(-z)) : expDouble(z) / (1 + expDouble(z))
            return (softplus - t * z, s - t, s * (1 - s))
        }
    }
}

/// Shared work of the linear-model problems: f(theta) = mean_i l(x_i'theta, t_i) + 1/2 wc |theta|^2.
///
/// Gradient X'e/D + wc theta with e_i = dl/dz_i. Because the loss is convex in z and the model
/// is linear, the Gauss-Newton matrix equals the Hessian: X_S' diag(d2l/dz2) X_S / |S| + wc I.
/// The empirical Fisher is mean_i g_i g_i' + wc I with g_i = e_i x_i, i.e. weights e_i^2. The
/// squared-gradient diagonal is mean_i e_i^2 x_i^2 (elementwise, regularizer excluded, as in
/// Martens' `grad2`). Full-data sums pass through the `ShardReducer`.
struct LinearModelCore<Scalar: BLASScalar>: @unchecked Sendable {
    /// D x n, row-major: one case per row.
    let inputs: Matrix<Scalar>
    /// D targets.
    let targets: [Scalar]
    let weightCost: Double
    let loss: LinearModelLoss
    let reducer: any ShardReducer

    var caseCount: Int { inputs.rows }
    var parameterCount: Int { inputs.columns }

    init(inputs: Matrix<Scalar>, targets: [Scalar], weightCost: Double, loss: LinearModelLoss, reducer: any ShardReducer) {
        precondition(inputs.rows >= 1 && inputs.columns >= 1, "need at least one case and one feature")
        precondition(targets.count == inputs.rows, "\(targets.count) targets for \(inputs.rows) cases")
        precondition(weightCost >= 0 && weightCost.isFinite, "weight cost must be finite and >= 0")
        self.inputs = inputs; self.targets = targets; self.weightCost = weightCost; self.loss = loss; self.reducer = reducer
    }

    func checkParameters(_ theta: Vector<Scalar>) throws {
        guard theta.count == parameterCount else {
            throw ObjectiveError.shapeMismatch("\(theta.count) parameters, expected \(parameterCount)")
        }
    }

    /// z = X theta for all cases.
    func margins(_ theta: Vector<Scalar>) -> [Scalar] {
        var z = [Scalar](repeating: 0, count: caseCount)
        let (d, n) = (caseCount, parameterCount)
        inputs.storage.withUnsafeBufferPointer { a in
            theta.elements.withUnsafeBufferPointer { t in
                z.withUnsafeMutableBufferPointer { zp in
                    Scalar.gemv(.none, m: d, n: n, alpha: 1, a: a.baseAddress!, lda: n, x: t.baseAddress!, incx: 1,
                                beta: 0, y: zp.baseAddress!, incy: 1)
                }
            }
        }
        return z
    }

    func evaluate(_ theta: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        try checkParameters(theta)
        let (d, n) = (caseCount, parameterCount)
        let z = margins(theta)
        var e = [Scalar](repeating: 0, count: d)
        var sum = 0.0
        for i in 0..<d {
            let (l, de, _) = loss.terms(Double(z[i]), Double(targets[i]))
            sum += l; e[i] = Scalar(de)
        }
        var gradient = Vector<Scalar>(zeros: n)
        inputs.storage.withUnsafeBufferPointer { a in
            e.withUnsafeBufferPointer { ep in
                gradient.elements.withUnsafeMutableBufferPointer { gp in
                    Scalar.gemv(.transposed, m: d, n: n, alpha: 1, a: a.baseAddress!, lda: n, x: ep.baseAddress!, incx: 1,
                                beta: 0, y: gp.baseAddress!, incy: 1)
                }
            }
        }
        var g2: Vector<Scalar>? = nil
        if squaredGradientDiagonal {
            var s = [Double](repeating: 0, count: n)
            for i in 0..<d {
                let e2 = Double(e[i]) * Double(e[i])
                for j in 0..<n { let x = Double(inputs[i, j]); s[j] += e2 * x * x }
            }
            var v = Vector<Scalar>(s.map { Scalar($0) })
            reducer.sumAcrossShards(&v)
            g2 = v
        }
        let total = reducer.sumAcrossShards(Double(d))
        sum = reducer.sumAcrossShards(sum)
        reducer.sumAcrossShards(&gradient)
        gradient.scale(by: Scalar(1 / total))
        if weightCost > 0 { gradient.add(theta, scaledBy: Scalar(weightCost)) }
        g2?.scale(by: Scalar(1 / total))
        let value = sum / total + 0.5 * weightCost * theta.squaredNorm
        return Evaluation(value: value, gradient: gradient, squaredGradientDiagonal: g2)
    }

    func value(_ theta: Vector<Scalar>, cases: CaseSelection) -> Double {
        precondition(theta.count == parameterCount, "\(theta.count) parameters, expected \(parameterCount)")
        switch cases {
        case .all:
            let z = margins(theta)
            var sum = 0.0
            for i in 0..<caseCount { sum += loss.terms(Double(z[i]), Double(targets[i])).0 }
            let total = reducer.sumAcrossShards(Double(caseCount))
            return reducer.sumAcrossShards(sum) / total + 0.5 * weightCost * theta.squaredNorm
        case .indices(let rows):
            precondition(!rows.isEmpty, "empty case selection")
            var sum = 0.0
            let n = parameterCount
            inputs.storage.withUnsafeBufferPointer { a in
                theta.elements.withUnsafeBufferPointer { t in
                    for i in rows {
                        precondition(i >= 0 && i < caseCount, "case \(i) out of 0..<\(caseCount)")
                        let z = Scalar.dot(n: n, x: a.baseAddress! + i * n, incx: 1, y: t.baseAddress!, incy: 1)
                        sum += loss.terms(z, Double(targets[i])).0
                    }
                }
            }
            return sum / Double(rows.count) + 0.5 * weightCost * theta.squaredNorm
        }
    }

    func curvature(_ kind: CurvatureKind, at theta: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        try checkParameters(theta)
        let rows: [Int]
        switch cases {
        case .all: rows = Array(0..<caseCount)
        case .indices(let r):
            precondition(!r.isEmpty, "empty case selection")
            for i in r { precondition(i >= 0 && i < caseCount, "case \(i) out of 0..<\(caseCount)") }
            rows = r
        }
        let n = parameterCount
        var batch = Matrix<Scalar>(rows: rows.count, columns: n)
        for (k, i) in rows.enumerated() { for j in 0..<n { batch[k, j] = inputs[i, j] } }
        var weights = [Scalar](repeating: 0, count: rows.count)
        theta.elements.withUnsafeBufferPointer { t in
            batch.storage.withUnsafeBufferPointer { a in
                for (k, i) in rows.enumerated() {
                    let z = Scalar.dot(n: n, x: a.baseAddress! + k * n, incx: 1, y: t.baseAddress!, incy: 1)
                    let (_, e, h) = loss.terms(z, Double(targets[i]))
                    switch kind {
                    case .gaussNewton, .hessian: weights[k] = Scalar(h)
                    case .fisher: weights[k] = Scalar(e * e)
                    case .finiteDifference: break
                    }
                }
            }
        }
        if kind == .finiteDifference {
            throw ObjectiveError.unsupportedCurvature(kind, supported: [.gaussNewton, .hessian, .fisher])
        }
        return WeightedGramCurvature(kind: kind, rows: batch, weights: weights, weightCost: Scalar(weightCost))
    }
}

/// B v = X_S' diag(w) X_S v / |S| + wc v, with X_S the batch's rows copied once. `apply`
/// allocates nothing.
final class WeightedGramCurvature<Scalar: BLASScalar>: CurvatureOperator {
    let kind: CurvatureKind
    let rows: Matrix<Scalar>
    let weights: [Scalar]
    let weightCost: Scalar
    private var work: [Scalar]

    init(kind: CurvatureKind, rows: Matrix<Scalar>, weights: [Scalar], weightCost: Scalar) {
        self.kind = kind; self.rows = rows; self.weights = weights; self.weightCost = weightCost
        work = [Scalar](repeating: 0, count: rows.rows)
    }

    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) {
        let (m, n) = (rows.rows, rows.columns)
        precondition(v.count == n && result.count == n, "curvature product: lengths \(v.count), \(result.count), expected \(n)")
        rows.storage.withUnsafeBufferPointer { a in
            work.withUnsafeMutableBufferPointer { w in
                v.elements.withUnsafeBufferPointer { vp in
                    Scalar.gemv(.none, m: m, n: n, alpha: 1, a: a.baseAddress!, lda: n, x: vp.baseAddress!, incx: 1,
                                beta: 0, y: w.baseAddress!, incy: 1)
                }
                for i in 0..<m { w[i] *= weights[i] }
                result.elements.withUnsafeMutableBufferPointer { rp in
                    Scalar.gemv(.transposed, m: m, n: n, alpha: 1 / Scalar(m), a: a.baseAddress!, lda: n,
                                x: w.baseAddress!, incx: 1, beta: 0, y: rp.baseAddress!, incy: 1)
                }
            }
        }
        if weightCost > 0 { result.add(v, scaledBy: weightCost) }
    }
}

/// Synthetic design matrices: x_ij ~ N(0, 1) * s_j with column scales s_j spaced geometrically
/// over `scaleSpread` decades (centred on 1), so that the problem is badly scaled per
/// coordinate, the case a diagonal preconditioner addresses (section 4.7).
func syntheticInputs<Scalar: BLASScalar>(cases: Int, features: Int, scaleSpread: Double,
                                         generator g: inout SeededGenerator) -> Matrix<Scalar> {
    precondition(cases >= 1 && features >= 1, "need at least one case and one feature")
    let scales = (0..<features).map { j in
        features == 1 ? 1 : powDouble(10, scaleSpread * (Double(j) / Double(features - 1) - 0.5))
    }
    var x = Matrix<Scalar>(rows: cases, columns: features)
    for i in 0..<cases { for j in 0..<features { x[i, j] = Scalar(g.normal() * scales[j]) } }
    return x
}

/// Linear least squares with real data cases: f(theta) = mean_i 1/2 (x_i'theta - y_i)^2 + 1/2 wc |theta|^2.
///
/// Minimizer: (X'X/D + wc I)^{-1} X'y/D. Supports Gauss-Newton (= Hessian) and empirical-Fisher
/// products on any case selection, and the squared-gradient diagonal. (Note the 1/2: Martens'
/// networks use the doubled squared error; this problem uses the textbook form.)
public final class LinearLeastSquaresProblem<Scalar: BLASScalar>: HFObjective {
    let core: LinearModelCore<Scalar>
    /// D x n inputs, one case per row.
    public var inputs: Matrix<Scalar> { core.inputs }
    /// D targets.
    public var targets: [Scalar] { core.targets }
    public var weightCost: Double { core.weightCost }
    public var parameterCount: Int { core.parameterCount }
    public var caseCount: Int { core.caseCount }
    public var supportedCurvatures: [CurvatureKind] { [.gaussNewton, .hessian, .fisher] }

    public init(inputs: Matrix<Scalar>, targets: [Scalar], weightCost: Double = 0, reducer: any ShardReducer = LocalShards()) {
        core = LinearModelCore(inputs: inputs, targets: targets, weightCost: weightCost, loss: .squaredError, reducer: reducer)
    }

    /// y = X theta* + noise * N(0, 1), theta* ~ N(0, 1), X from `scaleSpread` decades of column scales.
    public static func synthetic(cases: Int, features: Int, noise: Double = 0.1, scaleSpread: Double = 2,
                                 weightCost: Double = 0, seed: UInt64) -> LinearLeastSquaresProblem {
        var g = SeededGenerator(seed: seed)
        let x: Matrix<Scalar> = syntheticInputs(cases: cases, features: features, scaleSpread: scaleSpread, generator: &g)
        let truth = (0..<features).map { _ in g.normal() }
        let y = (0..<cases).map { i -> Scalar in
            var s = 0.0
            for j in 0..<features { s += Double(x[i, j]) * truth[j] }
            return Scalar(s + noise * g.normal())
        }
        return LinearLeastSquaresProblem(inputs: x, targets: y, weightCost: weightCost)
    }

    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        try core.evaluate(parameters, squaredGradientDiagonal: squaredGradientDiagonal)
    }
    public func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double { core.value(parameters, cases: cases) }
    public func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        try core.curvature(kind, at: parameters, cases: cases)
    }
}

/// Logistic regression with real data cases: targets t_i in [0, 1],
/// f(theta) = mean_i [log(1 + e^{z_i}) - t_i z_i] + 1/2 wc |theta|^2 with z_i = x_i'theta.
///
/// The logistic link matches the cross-entropy, so the Gauss-Newton matrix equals the Hessian,
/// X_S' diag(sigma (1 - sigma)) X_S / |S| + wc I (section 4.2's "matching" loss). Also supports
/// the empirical Fisher and the squared-gradient diagonal.
public final class LogisticRegressionProblem<Scalar: BLASScalar>: HFObjective {
    let core: LinearModelCore<Scalar>
    public var inputs: Matrix<Scalar> { core.inputs }
    public var targets: [Scalar] { core.targets }
    public var weightCost: Double { core.weightCost }
    public var parameterCount: Int { core.parameterCount }
    public var caseCount: Int { core.caseCount }
    public var supportedCurvatures: [CurvatureKind] { [.gaussNewton, .hessian, .fisher] }

    public init(inputs: Matrix<Scalar>, targets: [Scalar], weightCost: Double = 0, reducer: any ShardReducer = LocalShards()) {
        for t in targets { precondition(t >= 0 && t <= 1, "logistic targets must lie in [0, 1] (got \(t))") }
        core = LinearModelCore(inputs: inputs, targets: targets, weightCost: weightCost, loss: .logistic, reducer: reducer)
    }

    /// Labels t_i ~ Bernoulli(sigma(x_i'theta*)), theta* ~ N(0, 1) / sqrt(features) (so classes
    /// overlap and the optimum is finite), X from `scaleSpread` decades of column scales.
    public static func synthetic(cases: Int, features: Int, scaleSpread: Double = 2, weightCost: Double = 1e-3,
                                 seed: UInt64) -> LogisticRegressionProblem {
        var g = SeededGenerator(seed: seed)
        let x: Matrix<Scalar> = syntheticInputs(cases: cases, features: features, scaleSpread: scaleSpread, generator: &g)
        // Divide each true weight by its column scale so every feature matters about equally.
        let scale = 1 / Double(features).squareRoot()
        let truth = (0..<features).map { j -> Double in
            let s = features == 1 ? 1 : powDouble(10, scaleSpread * (Double(j) / Double(features - 1) - 0.5))
            return 3 * g.normal() * scale / s
        }
        let t = (0..<cases).map { i -> Scalar in
            var z = 0.0
            for j in 0..<features { z += Double(x[i, j]) * truth[j] }
            return g.uniform() < 1 / (1 + expDouble(-z)) ? 1 : 0
        }
        return LogisticRegressionProblem(inputs: x, targets: t, weightCost: weightCost)
    }

    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        try core.evaluate(parameters, squaredGradientDiagonal: squaredGradientDiagonal)
    }
    public func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double { core.value(parameters, cases: cases) }
    public func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        try core.curvature(kind, at: parameters, cases: cases)
    }
}
