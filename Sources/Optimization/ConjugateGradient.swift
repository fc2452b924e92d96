import LinearAlgebra

/// How a conjugate-gradient run decides it has done enough (paper section 4.4).
public enum ConjugateGradientStoppingRule: String, Codable, Sendable, CaseIterable {
    /// Martens' relative-progress test on the quadratic phi (section 4.4; `conjgrad_1.m`):
    /// stop at iteration i when i > k, phi(x_{i-k}) < 0 and
    /// (phi(x_i) - phi(x_{i-k})) / phi(x_i) < k * eps, with k = max(minimumGap, ceil(gapRatio * i)).
    case relativeProgress = "relative-progress"
    /// The classical residual test |A x - b| < min(1/2, |b|^(1/2)) |b| (section 4.4), which the
    /// paper argues against; kept for comparison. Here b = -gradient, so |b| = |gradient|.
    case residual
    /// No test: run until the iteration limit (or non-positive curvature). For experiments and tests.
    case iterationLimit = "iteration-limit"
}

/// Why a conjugate-gradient run stopped.
public enum ConjugateGradientTermination: String, Codable, Sendable, Equatable {
    /// The relative-progress test of section 4.4 fired.
    case relativeProgress = "relative-progress"
    /// The residual test fired.
    case residual
    /// The iteration limit was reached.
    case maximumIterations = "maximum-iterations"
    /// A direction with p'Ap <= 0 was met (possible with the Hessian, never with a damped
    /// Gauss-Newton matrix); CG stopped before moving along it (Martens: "Negative Curvature!").
    case nonPositiveCurvature = "non-positive-curvature"
    /// p'Ap was not finite (the curvature product returned NaN or infinity); CG stopped.
    case nonFiniteCurvature = "non-finite-curvature"
    /// The preconditioned residual r'M^{-1}r is exactly zero: x solves the system exactly
    /// (for instance b = 0 from a zero start). Continuing would divide by zero.
    case exactSolution = "exact-solution"
}

/// Settings of the linear conjugate-gradient solver (sections 4.4, 4.6; Martens' `conjgrad_1.m`).
public struct ConjugateGradientConfiguration: Codable, Sendable, Equatable {
    /// Most CG iterations per run. Martens' code: `maxiters = 250` ("the ICML paper had
    /// maxiters=250 for everything"; 150 for pre-trained CURVES, about 100 for FACES).
    public var maximumIterations: Int = 250
    /// Fewest CG iterations before a stopping test may fire. Martens' code: `miniters = 1`.
    public var minimumIterations: Int = 1
    /// Which test ends a run early (section 4.4). Default: the paper's relative progress.
    public var stoppingRule: ConjugateGradientStoppingRule = .relativeProgress
    /// eps of the relative-progress test. Section 4.4 and `conjgrad_1.m`: `tolerance = 5e-4`.
    public var progressTolerance: Double = 5e-4
    /// k = max(minimumGap, ceil(gapRatio * i)). Section 4.4 ("k = max(10, 0.1 i)"); `gapratio = 0.1`.
    public var progressGapRatio: Double = 0.1
    /// Smallest look-back k. Section 4.4; `mingap = 10`.
    public var progressMinimumGap: Int = 10
    /// First CG iteration whose iterate is stored for backtracking. Section 4.6; `inext = 5`.
    public var firstStoredIteration: Double = 5
    /// Growth factor gamma of the stored-iterate schedule ceil(5 * gamma^j). Section 4.6
    /// ("1.3 in our experiments"); `imult = 1.3`.
    public var storageGrowthFactor: Double = 1.3

    public init() {}

    /// Throws when a field is out of its range.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw HessianFreeError.invalidConfiguration(message) }
        }
        try check(maximumIterations >= 1, "cg.maximumIterations must be >= 1 (got \(maximumIterations))")
        try check(minimumIterations >= 1 && minimumIterations <= maximumIterations,
                  "cg.minimumIterations must lie in 1...maximumIterations (got \(minimumIterations))")
        try check(progressTolerance > 0 && progressTolerance.isFinite, "cg.progressTolerance must be > 0")
        try check(progressGapRatio >= 0 && progressGapRatio.isFinite, "cg.progressGapRatio must be >= 0")
        try check(progressMinimumGap >= 1, "cg.progressMinimumGap must be >= 1")
        try check(firstStoredIteration >= 1 && firstStoredIteration.isFinite, "cg.firstStoredIteration must be >= 1")
        try check(storageGrowthFactor > 1 && storageGrowthFactor.isFinite, "cg.storageGrowthFactor must be > 1")
    }

    /// The look-back k at iteration i: max(minimumGap, ceil(gapRatio * i)) (section 4.4).
    public func progressGap(atIteration i: Int) -> Int {
        max(progressMinimumGap, Int((progressGapRatio * Double(i)).rounded(.up)))
    }

    /// Martens' relative-progress test at iteration i, as a pure function of two phi values
    /// (`conjgrad_1.m`): true when i > k, phi(x_{i-k}) < 0 and
    /// (phi(x_i) - phi(x_{i-k})) / phi(x_i) < k * eps, where k = `progressGap(atIteration: i)`.
    ///
    /// The paper states the sign condition on phi(x_i); the code tests phi(x_{i-k}), which we
    /// follow. CG decreases phi monotonically, so the code's condition implies the paper's.
    public func relativeProgressSatisfied(iteration i: Int, phi: Double, phiGapAgo: Double) -> Bool {
        let k = progressGap(atIteration: i)
        return i > k && phiGapAgo < 0 && (phi - phiGapAgo) / phi < Double(k) * progressTolerance
    }

    /// The first iteration i >= max(1, minimumIterations) at which the relative-progress test
    /// fires on the sequence `phi` (phi[i] = phi(x_i), phi[0] = phi(x_0)); nil if it never does.
    public func firstRelativeProgressStop(phi: [Double]) -> Int? {
        guard phi.count > 1 else { return nil }
        for i in 1..<phi.count where i >= minimumIterations {
            let k = progressGap(atIteration: i)
            if i > k && relativeProgressSatisfied(iteration: i, phi: phi[i], phiGapAgo: phi[i - k]) { return i }
        }
        return nil
    }

    /// The CG iterations at which iterates are stored for backtracking, up to `limit`:
    /// i = ceil(s_j) with s_0 = firstStoredIteration, s_{j+1} = gamma * s_j (section 4.6). With the
    /// defaults: 5, 7, 9, 11, 15, 19, 25, 32, 41, 54, 69, 90, 117, 152, 197. (The final iterate
    /// of a run is stored as well, see `ConjugateGradientResult.iterates`.)
    public func storageSchedule(upTo limit: Int) -> [Int] {
        var out: [Int] = []
        var next = firstStoredIteration
        // Same arithmetic as the solver (and as `conjgrad_1.m`): repeated multiplication.
        while Int(next.rounded(.up)) <= limit {
            let i = Int(next.rounded(.up))
            if out.last != i { out.append(i) }
            next *= storageGrowthFactor
        }
        return out
    }
}

/// One iterate kept for backtracking (section 4.6).
public struct StoredIterate<Scalar: BLASScalar>: Sendable, Equatable {
    /// The CG iteration that produced it (0 = the start vector).
    public var iteration: Int
    /// x_i.
    public var solution: Vector<Scalar>
    /// phi(x_i) = 1/2 x_i'A x_i - b'x_i.
    public var phi: Double
}

/// What a conjugate-gradient run returns.
public struct ConjugateGradientResult<Scalar: BLASScalar>: Sendable {
    /// The iterates stored at i = ceil(5 * 1.3^j), followed by the final iterate when it was not
    /// stored already; ascending in iteration. Never empty. `iterates.last` is the final iterate.
    public var iterates: [StoredIterate<Scalar>]
    /// Iterations completed (each one matrix-vector product and one update of x).
    public var iterations: Int
    /// Why the run stopped.
    public var termination: ConjugateGradientTermination
    /// phi(x_i) for i = 0...iterations.
    public var phiHistory: [Double]
    /// Matrix-vector products with A performed (iterations, plus one for a non-zero start,
    /// plus one when the run stopped on non-positive curvature).
    public var products: Int
    /// |A x - b| at the final iterate (from the recurrence, no extra product).
    public var residualNorm: Double

    /// The final iterate x.
    public var solution: Vector<Scalar> { iterates[iterates.count - 1].solution }
}

/// Preconditioned linear conjugate gradient on phi(x) = 1/2 x'Ax - b'x, A symmetric (positive
/// definite as far as CG goes), matrix-free: A is available only through products
/// (sections 3, 4.4, 4.6, 4.7; the form of Martens' `conjgrad_1.m`).
///
///     r_0 = A x_0 - b,  y_0 = M^{-1} r_0,  p_0 = -y_0
///     alpha_i = r'y / p'Ap,  x += alpha p,  r += alpha Ap,  y = M^{-1} r,
///     beta = r_new'y_new / r'y,  p = -y + beta p,
///     phi(x_i) = 1/2 (r_i - b)'x_i     (no extra product)
///
/// The solver owns its work vectors (x, r, y, p, Ap), allocated for one length and reused by
/// every run: an iteration allocates nothing. Stored iterates are copies, made only at the
/// storage iterations (about 15 per run of 250).
public final class ConjugateGradientSolver<Scalar: BLASScalar> {
    public let dimension: Int
    private var x: Vector<Scalar>
    private var r: Vector<Scalar>
    private var y: Vector<Scalar>
    private var p: Vector<Scalar>
    private var ap: Vector<Scalar>
    private var phi: [Double]

    /// A solver for systems of `dimension` unknowns.
    public init(dimension: Int) {
        precondition(dimension >= 0, "negative dimension \(dimension)")
        self.dimension = dimension
        x = Vector(zeros: dimension); r = Vector(zeros: dimension); y = Vector(zeros: dimension)
        p = Vector(zeros: dimension); ap = Vector(zeros: dimension)
        phi = []
    }

    /// Minimizes phi(x) = 1/2 x'Ax - b'x from `start`.
    ///
    /// - Parameters:
    ///   - apply: `apply(v, &result)` sets result = A v (result has `dimension` elements).
    ///   - b: the right-hand side (for HF, minus the gradient).
    ///   - start: x_0; `nil` or all zeros means a cold start, which saves one product.
    ///   - preconditioner: the diagonal of M (every element > 0 and finite), or `nil` for M = I.
    ///   - configuration: iteration limits, stopping rule and storage schedule.
    public func solve(apply: (Vector<Scalar>, inout Vector<Scalar>) -> Void,
                      b: Vector<Scalar>,
                      start: Vector<Scalar>?,
                      preconditioner: Vector<Scalar>?,
                      configuration: ConjugateGradientConfiguration) -> ConjugateGradientResult<Scalar> {
        precondition(b.count == dimension, "CG: b has \(b.count) elements, expected \(dimension)")
        if let s = start { precondition(s.count == dimension, "CG: start has \(s.count) elements, expected \(dimension)") }
        if let m = preconditioner {
            precondition(m.count == dimension, "CG: preconditioner has \(m.count) elements, expected \(dimension)")
        }
        let maxIterations = configuration.maximumIterations
        var products = 0
        if phi.count < maxIterations + 1 { phi = [Double](repeating: 0, count: maxIterations + 1) }

        // r_0 = A x_0 - b
        let coldStart = start.map { s in s.elements.allSatisfy { $0 == 0 } } ?? true
        if coldStart {
            x.setZero()
            r.assign(b); r.scale(by: -1)
        } else {
            x.assign(start!)
            apply(x, &r); products += 1
            r.add(b, scaledBy: -1)
        }
        precondition(r.count == dimension, "CG: the operator changed the length of its result")
        y.assign(r)
        if let m = preconditioner { y.divide(elementwiseBy: m) }
        p.assign(y); p.scale(by: -1)
        var ry = r.dot(y)
        phi[0] = 0.5 * (r.dot(x) - b.dot(x))
        let bNorm = b.norm
        let residualTarget = min(0.5, bNorm.squareRoot()) * bNorm

        var iterates: [StoredIterate<Scalar>] = []
        var nextStore = configuration.firstStoredIteration
        var completed = 0
        var termination = ConjugateGradientTermination.maximumIterations

        if ry == 0 {
            termination = .exactSolution
        } else {
            for i in 1...maxIterations {
                apply(p, &ap); products += 1
                let pAp = p.dot(ap)
                if !pAp.isFinite { termination = .nonFiniteCurvature; break }
                if pAp <= 0 { termination = .nonPositiveCurvature; break }
                let alpha = ry / pAp
                // x += alpha p, r += alpha Ap, y = M^-1 r, and the dot products r.y, r.x, b.x
                // in one sweep over the vectors.
                let sums = Vector.conjugateGradientStep(x: &x, r: &r, y: &y, p: p, ap: ap, alpha: Scalar(alpha),
                                                        preconditioner: preconditioner, b: b)
                let ryNew = sums.ry
                let beta = ryNew / ry
                p.scale(by: Scalar(beta), subtracting: y)
                ry = ryNew
                completed = i
                phi[i] = 0.5 * (sums.rx - sums.bx)

                if i == Int(nextStore.rounded(.up)) {
                    iterates.append(StoredIterate(iteration: i, solution: x, phi: phi[i]))
                    nextStore *= configuration.storageGrowthFactor
                }
                if i >= configuration.minimumIterations {
                    switch configuration.stoppingRule {
                    case .relativeProgress:
                        let k = configuration.progressGap(atIteration: i)
                        if i > k && configuration.relativeProgressSatisfied(iteration: i, phi: phi[i], phiGapAgo: phi[i - k]) {
                            termination = .relativeProgress
                        }
                    case .residual:
                        if r.norm < residualTarget { termination = .residual }
                    case .iterationLimit:
                        break
                    }
                    if termination != .maximumIterations { break }
                }
                if ry == 0 { termination = .exactSolution; break }
            }
        }
        if iterates.last?.iteration != completed {
            iterates.append(StoredIterate(iteration: completed, solution: x, phi: phi[completed]))
        }
        return ConjugateGradientResult(iterates: iterates, iterations: completed, termination: termination,
                                       phiHistory: Array(phi[0...completed]), products: products,
                                       residualNorm: r.norm)
    }
}
