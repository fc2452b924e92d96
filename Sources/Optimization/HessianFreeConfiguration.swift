import Foundation
import LinearAlgebra

/// Errors of the Hessian-free optimizer.
public enum HessianFreeError: Error, Equatable, CustomStringConvertible {
    /// The full-data gradient at the start of HF iteration `iteration` (1-based) has a NaN or
    /// infinite element; the run cannot continue.
    case nonFiniteGradient(iteration: Int)
    /// The full-data objective at the start of HF iteration `iteration` is NaN or infinite.
    case nonFiniteObjective(iteration: Int)
    /// The preconditioner is on but the objective returned no squared-gradient diagonal.
    case missingSquaredGradientDiagonal
    /// The parameters do not have the objective's length.
    case parameterCountMismatch(expected: Int, actual: Int)
    /// A configuration field is out of range.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .nonFiniteGradient(let i): return "the gradient is not finite at Hessian-free iteration \(i)"
        case .nonFiniteObjective(let i): return "the objective is not finite at Hessian-free iteration \(i)"
        case .missingSquaredGradientDiagonal:
            return "the preconditioner needs the squared-gradient diagonal, which this objective did not return"
        case .parameterCountMismatch(let e, let a): return "expected \(e) parameters, got \(a)"
        case .invalidConfiguration(let s): return "invalid configuration: \(s)"
        }
    }
}

/// Which training cases the curvature mini-batch of each iteration holds (section 4.3).
///
/// Batches are consecutive slices of one fixed permutation of the cases, cycled round-robin, one
/// per HF iteration (Martens' `hybridmode = 1`: `targetchunk = mod(epoch-1, numchunks)+1`). When
/// a slice would run past the end of the permutation it is cut there and the next one starts
/// again at the beginning, so with a fixed size the batches form a fixed partition.
public enum CurvatureBatchSchedule: Codable, Sendable, Equatable {
    /// Every case, every iteration.
    case fullData
    /// The data split into `count` equal chunks (the last may be smaller). Martens' CURVES
    /// demo: `numchunks = 4` (K = 5000 of 20000, Table 1).
    case chunks(count: Int)
    /// K cases per batch.
    case fixed(size: Int)
    /// K grows geometrically from `initialSize` at iteration 1 to `finalSize` at iteration
    /// `iterations` and stays there ("the optimal size ... grows as the optimization
    /// progresses", section 4.3; Martens' K-FAC demo grows 1000 to the full set by iteration 500).
    case growing(initialSize: Int, finalSize: Int, iterations: Int)

    /// The batch size K at HF iteration `iteration` (1-based) for `caseCount` cases, in 1...caseCount.
    public func batchSize(atIteration iteration: Int, caseCount: Int) -> Int {
        precondition(caseCount >= 1, "an objective needs at least one case")
        let k: Int
        switch self {
        case .fullData: k = caseCount
        case .chunks(let count): k = (caseCount + max(count, 1) - 1) / max(count, 1)
        case .fixed(let size): k = size
        case .growing(let a, let b, let n):
            if n <= 1 || iteration >= n { k = b } else {
                let t = Double(max(iteration, 1) - 1) / Double(n - 1)
                k = Int((Double(a) * pow(Double(b) / Double(a), t)).rounded())
            }
        }
        return min(max(k, 1), caseCount)
    }

    func validate() throws {
        switch self {
        case .fullData: return
        case .chunks(let c): if c < 1 { throw HessianFreeError.invalidConfiguration("chunk count must be >= 1") }
        case .fixed(let s): if s < 1 { throw HessianFreeError.invalidConfiguration("batch size must be >= 1") }
        case .growing(let a, let b, let n):
            if a < 1 || b < a || n < 1 {
                throw HessianFreeError.invalidConfiguration("growing batch needs 1 <= initialSize <= finalSize and iterations >= 1")
            }
        }
    }
}

/// On which cases an objective value used by a decision is computed.
public enum EvaluationData: String, Codable, Sendable, CaseIterable {
    /// The whole training set.
    case fullData = "full-data"
    /// The current iteration's curvature mini-batch.
    case curvatureBatch = "curvature-batch"
}

/// Which quadratic model the denominator of rho uses.
public enum ReductionRatioModel: String, Codable, Sendable, CaseIterable {
    /// q(p) - q(0) = g'p + 1/2 p'Bp: B without lambda (the weight-cost curvature stays, as it is
    /// inside B). Martens' code (`autodamp = 0` while computing the denominator).
    case undamped
    /// q(p) - q(0) = g'p + 1/2 p'(B + lambda I)p: the model CG actually minimized.
    case damped
}

/// Every constant and device of Hessian-free optimization (Martens 2010, Algorithm 1 and
/// section 4), each with its source, and each device switchable on its own so that every claim
/// of the paper can be ablated. Defaults are those of Martens' published code (`nnet_train_2.m`,
/// `conjgrad_1.m`, HFDemo) where the paper is silent.
public struct HessianFreeConfiguration: Codable, Sendable, Equatable {
    /// The curvature matrix B (sections 3, 4.2). Default Gauss-Newton, the paper's choice.
    public var curvature: CurvatureKind = .gaussNewton
    /// Curvature mini-batches (section 4.3). Default: Martens' demo, 4 chunks of a fixed permutation.
    public var curvatureBatches: CurvatureBatchSchedule = .chunks(count: 4)
    /// Seed of the one fixed permutation of the cases from which the curvature mini-batches are
    /// cut (Martens permutes once at load, `randperm`, and never reshuffles).
    public var permutationSeed: UInt64 = 1

    /// The conjugate-gradient solver (sections 4.4, 4.6, 4.7).
    public var conjugateGradient = ConjugateGradientConfiguration()

    /// CG starts from `warmStartDecay` times the previous run's final (un-backtracked) solution
    /// (section 4.5; Martens' code `ch = decay*ch` with `decay = 0.95`, "something I didn't mention
    /// in the paper"). 0 gives cold starts from zero.
    public var warmStartDecay: Double = 0.95

    /// CG-iterate backtracking (section 4.6): walk back over the stored iterates while the
    /// objective improves. Off: the final CG iterate is the step.
    public var backtracking: Bool = true
    /// The data backtracking evaluates the objective on. Martens' code: the full training set
    /// ("full training set version"; the mini-batch version is commented out).
    public var backtrackingData: EvaluationData = .fullData

    /// Armijo backtracking line search on the chosen step (Martens' code, not in the paper):
    /// accept rate r when f(theta + r p) <= f(theta) + c r g'p, else r *= factor; full data.
    public var lineSearch: Bool = true
    /// c of the Armijo condition. Martens' code: `c = 10^(-2)`.
    public var lineSearchSufficientDecrease: Double = 1e-2
    /// Step shrink factor. Martens' code: `rate = 0.8*rate`.
    public var lineSearchShrinkFactor: Double = 0.8
    /// Rates tried: 1, factor, ..., factor^(tries-1); the step is rejected (rate 0) when none
    /// passes. Martens' code: `while k < 60`.
    public var lineSearchMaximumTries: Int = 60

    /// Levenberg-Marquardt adjustment of lambda from rho (section 4.1). Off: lambda stays at
    /// `initialLambda` (rho is still computed and recorded).
    public var adaptiveDamping: Bool = true
    /// Initial lambda. Martens' code: `initlambda = 45.0`, added to the per-case-averaged
    /// curvature (the ICML paper added it to the unnormalized one).
    public var initialLambda: Double = 45
    /// lambda *= this when rho < `lowerReductionRatio` or rho is NaN. Section 4.1 and `boost = 1/drop`:
    /// 3/2. (The paper's text has the two factors swapped; its intent and the code agree on this.)
    public var lambdaIncreaseFactor: Double = 3.0 / 2.0
    /// lambda *= this when rho > `upperReductionRatio`. Section 4.1, `drop = 2/3`.
    public var lambdaDecreaseFactor: Double = 2.0 / 3.0
    /// Section 4.1: 1/4.
    public var lowerReductionRatio: Double = 0.25
    /// Section 4.1: 3/4.
    public var upperReductionRatio: Double = 0.75
    /// lambda never falls below this (0: no floor, as in Martens' code, where lambda reached 1.9e-18).
    public var lambdaFloor: Double = 0
    /// Data of rho's numerator f(theta + p) - f(theta). Martens' code: the current curvature chunk.
    public var reductionRatioData: EvaluationData = .curvatureBatch
    /// Model of rho's denominator. Martens' code: undamped, weight cost included.
    public var reductionRatioModel: ReductionRatioModel = .undamped

    /// Diagonal CG preconditioner M = (mean per-case squared gradient + lambda + weightCost)^alpha
    /// (section 4.7; Martens' code `precon = (grad2 + lambda + weightcost).^(3/4)`). Off: M = I.
    public var preconditioner: Bool = true
    /// alpha. Section 4.7: "we used 0.75".
    public var preconditionerExponent: Double = 0.75
    /// The objective's L2 weight cost, added inside the preconditioner as in Martens' code. The
    /// objective owns its regularizer; this only tells the preconditioner. 0 for problems
    /// without one (Martens' CURVES demo: 2e-5).
    public var weightCost: Double = 0

    public init() {}

    /// Throws `HessianFreeError.invalidConfiguration` naming the first field out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw HessianFreeError.invalidConfiguration(message) }
        }
        try conjugateGradient.validate()
        try curvatureBatches.validate()
        try check(warmStartDecay >= 0 && warmStartDecay <= 1, "warmStartDecay must lie in [0, 1]")
        try check(lineSearchSufficientDecrease > 0 && lineSearchSufficientDecrease < 1, "lineSearchSufficientDecrease must lie in (0, 1)")
        try check(lineSearchShrinkFactor > 0 && lineSearchShrinkFactor < 1, "lineSearchShrinkFactor must lie in (0, 1)")
        try check(lineSearchMaximumTries >= 1, "lineSearchMaximumTries must be >= 1")
        try check(initialLambda >= 0 && initialLambda.isFinite, "initialLambda must be finite and >= 0")
        try check(lambdaIncreaseFactor >= 1 && lambdaIncreaseFactor.isFinite, "lambdaIncreaseFactor must be >= 1")
        try check(lambdaDecreaseFactor > 0 && lambdaDecreaseFactor <= 1, "lambdaDecreaseFactor must lie in (0, 1]")
        try check(lowerReductionRatio <= upperReductionRatio, "lowerReductionRatio must not exceed upperReductionRatio")
        try check(lambdaFloor >= 0 && lambdaFloor.isFinite, "lambdaFloor must be finite and >= 0")
        try check(preconditionerExponent >= 0 && preconditionerExponent.isFinite, "preconditionerExponent must be >= 0")
        try check(weightCost >= 0 && weightCost.isFinite, "weightCost must be finite and >= 0")
    }
}

/// The Levenberg-Marquardt rule of section 4.1, as a pure function.
///
/// lambda * increase when rho < lower or rho is NaN; lambda * decrease when rho > upper;
/// unchanged otherwise; then at least `lambdaFloor`. With `adaptiveDamping` off, unchanged.
public func updatedLambda(_ lambda: Double, reductionRatio rho: Double, configuration c: HessianFreeConfiguration) -> Double {
    guard c.adaptiveDamping else { return lambda }
    var l = lambda
    if rho < c.lowerReductionRatio || rho.isNaN {
        l *= c.lambdaIncreaseFactor
    } else if rho > c.upperReductionRatio {
        l *= c.lambdaDecreaseFactor
    }
    return max(l, c.lambdaFloor)
}

/// CG-iterate backtracking (section 4.6; Martens' "full training set version"), as a pure
/// function of the objective at each stored iterate.
///
/// Starting from the last of `count` iterates, walk backwards while the earlier iterate's
/// objective is not higher than the current one's; stop at the first increase. A non-finite
/// value counts as +infinity. Returns the chosen index, its objective, and the values computed
/// (from the last iterate down), so that the caller can count evaluations.
public func backtrackCGIterates(count: Int, objective: (Int) -> Double) -> (index: Int, value: Double, evaluations: Int) {
    precondition(count >= 1, "backtracking needs at least one iterate")
    func clean(_ v: Double) -> Double { v.isNaN ? .infinity : v }
    var index = count - 1
    var value = objective(index)
    var evaluations = 1
    while index > 0 {
        let earlier = objective(index - 1)
        evaluations += 1
        // Martens: `if ll > lowll, j = j+1; break` (log-likelihoods): keep the later iterate
        // when it is strictly better; on a tie keep walking back.
        if clean(value) < clean(earlier) { break }
        index -= 1
        value = earlier
    }
    return (index, value, evaluations)
}
