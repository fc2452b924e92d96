import LinearAlgebra

/// Everything a Hessian-free run carries from one iteration to the next: with the configuration
/// and the objective, enough to resume a run bit for bit (checkpoints).
///
/// The curvature mini-batches come from `permutation`, fixed at the start, so no random
/// generator state is carried. The optimizer also caches the full-data evaluation at
/// `parameters` (computed at the end of each step for the stopping rules and reused by the next
/// one); the cache is not encoded, and a resumed state recomputes it once, which changes the
/// evaluation count by one but not the trajectory.
public struct HessianFreeState<Scalar: BLASScalar>: Codable, Sendable, Equatable {
    /// theta_n.
    public var parameters: Vector<Scalar>
    /// The previous iteration's final CG solution, before backtracking (section 4.5: the warm
    /// start uses the un-backtracked iterate); nil before the first iteration.
    public var previousSolution: Vector<Scalar>?
    /// The damping lambda for the next iteration (section 4.1).
    public var lambda: Double
    /// The fixed permutation of the case indices that curvature mini-batches are cut from (section 4.3).
    public var permutation: [Int]
    /// Where in `permutation` the next curvature mini-batch starts.
    public var batchPosition: Int
    /// HF iterations completed.
    public var iteration: Int
    /// Full-data objective-and-gradient evaluations so far.
    public var gradientEvaluations: Int
    /// Objective-only evaluations so far (backtracking, line search, rho), on any data.
    public var valueEvaluations: Int
    /// Curvature-matrix-vector products so far (all of them CG's own).
    public var curvatureProducts: Int
    /// CG iterations so far.
    public var conjugateGradientIterations: Int

    /// The full-data evaluation at `parameters`, when known. Not encoded.
    var cachedEvaluation: Evaluation<Scalar>?

    /// Forgets the cached full-data evaluation (the next step recomputes it if it needs it).
    /// A caller that keeps a copy of the state while `step` runs drops its reference this way,
    /// so the step can free the gradient buffers it replaces.
    public mutating func forgetCachedEvaluation() { cachedEvaluation = nil }

    enum CodingKeys: String, CodingKey {
        case parameters, previousSolution, lambda, permutation, batchPosition, iteration
        case gradientEvaluations, valueEvaluations, curvatureProducts, conjugateGradientIterations
    }

    /// The state before the first iteration: lambda = `initialLambda`, the case permutation drawn
    /// from `permutationSeed`, no previous CG solution.
    public init(parameters: Vector<Scalar>, caseCount: Int, configuration: HessianFreeConfiguration) {
        precondition(caseCount >= 1, "an objective needs at least one case (got \(caseCount))")
        self.parameters = parameters
        previousSolution = nil
        lambda = configuration.initialLambda
        var generator = SeededGenerator(seed: configuration.permutationSeed)
        permutation = generator.permutation(caseCount)
        batchPosition = 0
        iteration = 0
        gradientEvaluations = 0; valueEvaluations = 0; curvatureProducts = 0; conjugateGradientIterations = 0
        cachedEvaluation = nil
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.parameters == b.parameters && a.previousSolution == b.previousSolution && a.lambda == b.lambda
            && a.permutation == b.permutation && a.batchPosition == b.batchPosition && a.iteration == b.iteration
            && a.gradientEvaluations == b.gradientEvaluations && a.valueEvaluations == b.valueEvaluations
            && a.curvatureProducts == b.curvatureProducts && a.conjugateGradientIterations == b.conjugateGradientIterations
    }
}

/// Where a Hessian-free step is, for progress displays.
public enum HessianFreeProgress: Sendable, Equatable {
    /// Curvature products done so far in this step's CG run, and the most it can take.
    case conjugateGradient(products: Int, maximum: Int)
}

/// Wall-clock seconds spent in the parts of one HF iteration.
public struct HessianFreeTimings: Codable, Sendable, Equatable {
    /// Full-data objective and gradient (and squared-gradient diagonal).
    public var gradient: Double = 0
    /// Building the curvature operator and running CG.
    public var conjugateGradient: Double = 0
    /// CG-iterate backtracking, rho, and the line search.
    public var backtrackingAndLineSearch: Double = 0
    /// The whole iteration.
    public var total: Double = 0
    public init() {}
}

/// What one HF iteration did (Martens' log fields, and the counts to compare costs).
public struct HessianFreeRecord: Codable, Sendable, Equatable {
    /// 1-based HF iteration.
    public var iteration: Int
    /// f(theta_n), full data, before the step.
    public var objective: Double
    /// |grad f(theta_n)|.
    public var gradientNorm: Double
    /// f(theta_{n+1}), full data, after the step (equal to `objective` when the step was rejected).
    public var objectiveAfter: Double
    /// |grad f(theta_{n+1})|.
    public var gradientNormAfter: Double
    /// lambda used in this iteration's CG.
    public var lambda: Double
    /// lambda for the next iteration, after the Levenberg-Marquardt rule.
    public var lambdaAfter: Double
    /// rho = (f(theta + p) - f(theta)) / (q(p) - q(0)) of the backtracked step (section 4.1); -infinity
    /// when the objective on rho's data rose or is not finite.
    public var reductionRatio: Double
    /// rho's denominator: the model's change q(p) - q(0) at the backtracked step (undamped or
    /// damped, as `reductionRatioModel` says); NaN when no direction was found.
    public var modelChange: Double
    /// rho of the same step measured on the whole training set: (f(theta + p) - f(theta)) /
    /// `modelChange`, with p the backtracked step before the line search shortens it (-infinity
    /// when the full-data objective rose). Equal to `reductionRatio` when rho's data is the
    /// full set; with a curvature mini-batch it shows how far the batch's verdict on a step
    /// is from the whole set's (a diagnostic: lambda follows `reductionRatio`, as in Martens' code).
    public var fullDataReductionRatio: Double
    /// Curvature mini-batch size K.
    public var curvatureBatchSize: Int
    /// CG iterations run.
    public var conjugateGradientIterations: Int
    /// Why CG stopped.
    public var conjugateGradientTermination: ConjugateGradientTermination
    /// The CG iteration whose stored iterate backtracking chose (section 4.6).
    public var chosenIterate: Int
    /// The line-search rate applied (0: step rejected; 1 with the line search off).
    public var lineSearchRate: Double
    /// How many times the line search shrank the rate.
    public var lineSearchReductions: Int
    /// Whether theta moved.
    public var stepAccepted: Bool
    /// |rate * p|.
    public var stepNorm: Double
    /// True when CG returned a direction with a non-finite element or model value: it was
    /// neither applied nor kept as a warm start, and lambda was raised as for rho = -infinity.
    public var nonFiniteDirection: Bool
    /// Cumulative full-data objective-and-gradient evaluations.
    public var gradientEvaluations: Int
    /// Cumulative objective-only evaluations.
    public var valueEvaluations: Int
    /// Cumulative curvature-matrix-vector products.
    public var curvatureProducts: Int
    /// Cumulative CG iterations.
    public var totalConjugateGradientIterations: Int
    /// Seconds spent, by part.
    public var seconds: HessianFreeTimings

    /// This record with all timings zeroed: what must be identical between two runs.
    public var withoutTimings: HessianFreeRecord {
        var r = self; r.seconds = HessianFreeTimings(); return r
    }
}

/// Hessian-free optimization (Martens 2010, Algorithm 1 with all of section 4), on any
/// `HFObjective`. One `step` is one HF iteration:
///
/// 1. f and g on the full data (and the mean per-case squared gradient for the preconditioner);
/// 2. the next curvature mini-batch of the fixed permutation, linearized once (section 4.3);
/// 3. preconditioned CG on (B + lambda I) p = -g from decay * previous solution (4.4, 4.5, 4.7);
/// 4. backtracking over the stored CG iterates (4.6);
/// 5. rho of the chosen step, an Armijo line search on it (Martens' code), and the
///    Levenberg-Marquardt update of lambda (4.1);
/// 6. theta += rate * p, and f, g at the new point for the stopping rules.
///
/// The optimizer holds only work buffers; all that matters between iterations is in the state,
/// so the same state, objective and configuration give a bit-identical step.
public final class HessianFreeOptimizer<Scalar: BLASScalar> {
    public let configuration: HessianFreeConfiguration
    /// Called during a step, so a caller can show progress through long CG runs; it must not
    /// touch the optimizer. Has no effect on the trajectory.
    public var progress: ((HessianFreeProgress) -> Void)?
    private var solver: ConjugateGradientSolver<Scalar>?
    private var trial = Vector<Scalar>(zeros: 0)
    private var negativeGradient = Vector<Scalar>(zeros: 0)
    private var preconditionerDiagonal = Vector<Scalar>(zeros: 0)

    /// Validates `configuration`.
    public init(configuration: HessianFreeConfiguration = HessianFreeConfiguration()) throws {
        try configuration.validate()
        self.configuration = configuration
    }

    /// The state before the first iteration from `parameters`.
    public func initialState<O: HFObjective>(parameters: Vector<Scalar>, for objective: O) throws -> HessianFreeState<Scalar>
    where O.Scalar == Scalar {
        guard parameters.count == objective.parameterCount else {
            throw HessianFreeError.parameterCountMismatch(expected: objective.parameterCount, actual: parameters.count)
        }
        return HessianFreeState(parameters: parameters, caseCount: objective.caseCount, configuration: configuration)
    }

    /// Makes sure `state` carries the full-data evaluation at its parameters (one gradient
    /// evaluation when it does not), and returns it.
    public func evaluated<O: HFObjective>(_ state: HessianFreeState<Scalar>, on objective: O) throws
    -> (state: HessianFreeState<Scalar>, objective: Double, gradientNorm: Double) where O.Scalar == Scalar {
        var s = state
        let e = try evaluation(&s, objective)
        return (s, e.value, e.gradient.norm)
    }

    private func evaluation<O: HFObjective>(_ s: inout HessianFreeState<Scalar>, _ objective: O,
                                            reusing spent: consuming Evaluation<Scalar>? = nil) throws -> Evaluation<Scalar>
    where O.Scalar == Scalar {
        if let e = s.cachedEvaluation { return e }
        let e = try objective.evaluate(at: s.parameters, squaredGradientDiagonal: configuration.preconditioner, reusing: spent)
        s.gradientEvaluations += 1
        s.cachedEvaluation = e
        return e
    }

    /// One HF iteration: (state, objective) -> (next state, record).
    ///
    /// Throws `HessianFreeError.nonFiniteGradient` / `.nonFiniteObjective` naming the iteration
    /// when f or its gradient at theta_n is not finite, and passes on the objective's errors
    /// (for instance an unsupported curvature). A trial step whose objective is not finite is
    /// never applied.
    ///
    /// The state is taken by value and consumed: a caller that hands over its only copy
    /// (`step(consume state, on:)`) lets the step free the old gradient and direction buffers
    /// as it replaces them.
    public func step<O: HFObjective>(_ state: consuming HessianFreeState<Scalar>, on objective: O) throws
    -> (state: HessianFreeState<Scalar>, record: HessianFreeRecord) where O.Scalar == Scalar {
        let c = configuration
        let n = objective.parameterCount
        guard state.parameters.count == n else {
            throw HessianFreeError.parameterCountMismatch(expected: n, actual: state.parameters.count)
        }
        precondition(state.permutation.count == objective.caseCount,
                     "state permutation has \(state.permutation.count) cases, objective has \(objective.caseCount)")
        if trial.count != n {
            trial = Vector(zeros: n); negativeGradient = Vector(zeros: n)
            preconditionerDiagonal = Vector(zeros: n)
        }
        if solver?.dimension != n { solver = ConjugateGradientSolver(dimension: n) }

        var s = state
        let iteration = s.iteration + 1
        var timings = HessianFreeTimings()
        let clock = ContinuousClock()
        let iterationStart = clock.now

        // 1. Full-data objective and gradient (section 4.3).
        // The big buffers of a step (the curvature operator's batch, CG's stored iterates, this
        // evaluation) are held in optionals and let go as soon as the step is done with them,
        // so the memory of one phase is free for the next.
        var mark = clock.now
        var current: Evaluation<Scalar>? = try evaluation(&s, objective)
        timings.gradient += seconds(clock.now - mark)
        guard current!.value.isFinite else { throw HessianFreeError.nonFiniteObjective(iteration: iteration) }
        guard current!.gradient.isFinite else { throw HessianFreeError.nonFiniteGradient(iteration: iteration) }
        let f0 = current!.value
        let gradientNorm = current!.gradient.norm

        // 2. The curvature mini-batch: the next slice of the fixed permutation (section 4.3).
        mark = clock.now
        let caseCount = objective.caseCount
        let batchSize = c.curvatureBatches.batchSize(atIteration: iteration, caseCount: caseCount)
        let batch: CaseSelection
        if batchSize >= caseCount {
            batch = .all
        } else {
            let start = s.batchPosition < caseCount ? s.batchPosition : 0
            let end = min(start + batchSize, caseCount)
            batch = .indices(Array(s.permutation[start..<end]))
            s.batchPosition = end == caseCount ? 0 : end
        }
        var curvature: (any CurvatureOperator<Scalar>)? = try objective.curvature(c.curvature, at: s.parameters, cases: batch)
        let lambda = s.lambda

        // 3. Preconditioner (section 4.7): M = (mean per-case g^2 + lambda + weightCost)^alpha.
        var preconditioner: Vector<Scalar>? = nil
        if c.preconditioner {
            guard let g2 = current!.squaredGradientDiagonal else { throw HessianFreeError.missingSquaredGradientDiagonal }
            precondition(g2.count == n, "squared-gradient diagonal has \(g2.count) elements, expected \(n)")
            let shift = lambda + c.weightCost
            let alpha = c.preconditionerExponent
            preconditionerDiagonal.elements.withUnsafeMutableBufferPointer { m in
                g2.elements.withUnsafeBufferPointer { g in
                    for i in 0..<n {
                        let v = powDouble(Double(g[i]) + shift, alpha)
                        // A zero (lambda = weightCost = 0 on a coordinate with zero gradient) or
                        // non-finite entry would break CG; such coordinates are left unscaled.
                        m[i] = v > 0 && v.isFinite ? Scalar(v) : 1
                    }
                }
            }
            preconditioner = preconditionerDiagonal
        }

        // 4. CG on (B + lambda I) p = -g from decay * previous solution (sections 4.4, 4.5).
        negativeGradient.assign(current!.gradient); negativeGradient.scale(by: -1)
        var warmStart: Vector<Scalar>? = nil
        if c.warmStartDecay > 0, var previous = s.previousSolution, previous.count == n {
            previous.scale(by: Scalar(c.warmStartDecay))
            warmStart = previous
        }
        let scalarLambda = Scalar(lambda)
        var products = 0
        let maximumProducts = c.conjugateGradient.maximumIterations + 1
        var cg = solver!.solve(
            apply: { [progress] v, out in
                curvature!.apply(v, into: &out)
                out.add(v, scaledBy: scalarLambda)
                products += 1
                progress?(.conjugateGradient(products: products, maximum: maximumProducts))
            },
            b: negativeGradient, start: warmStart, preconditioner: preconditioner,
            configuration: c.conjugateGradient)
        warmStart = nil
        // f(theta) on the batch, from the linearization's forward pass; the operator's memory
        // is then free for the full-data passes below.
        let batchValueAtTheta = curvature!.valueAtLinearizationPoint
        curvature = nil
        s.curvatureProducts += cg.products
        s.conjugateGradientIterations += cg.iterations
        // A direction with a non-finite element or model value (a curvature product that
        // returned NaN or infinity) is never applied nor kept as the next warm start: from a
        // NaN start every later CG run would be NaN too.
        let directionIsFinite = cg.solution.isFinite && cg.iterates.last!.phi.isFinite
        s.previousSolution = directionIsFinite ? cg.solution : nil
        timings.conjugateGradient += seconds(clock.now - mark)
        if !directionIsFinite {
            s.lambda = updatedLambda(lambda, reductionRatio: -.infinity, configuration: c)
            s.iteration = iteration
            timings.total = seconds(clock.now - iterationStart)
            let record = HessianFreeRecord(
                iteration: iteration, objective: f0, gradientNorm: gradientNorm,
                objectiveAfter: f0, gradientNormAfter: gradientNorm,
                lambda: lambda, lambdaAfter: s.lambda, reductionRatio: -.infinity,
                modelChange: .nan, fullDataReductionRatio: .nan,
                curvatureBatchSize: batchSize,
                conjugateGradientIterations: cg.iterations, conjugateGradientTermination: cg.termination,
                chosenIterate: cg.iterates.last!.iteration,
                lineSearchRate: 0, lineSearchReductions: 0, stepAccepted: false, stepNorm: 0,
                nonFiniteDirection: true,
                gradientEvaluations: s.gradientEvaluations, valueEvaluations: s.valueEvaluations,
                curvatureProducts: s.curvatureProducts, totalConjugateGradientIterations: s.conjugateGradientIterations,
                seconds: timings)
            return (s, record)
        }

        // 5. Backtracking over the stored iterates (section 4.6).
        mark = clock.now
        let theta = s.parameters
        var valueEvaluations = 0
        func value(at step: Vector<Scalar>, rate: Double, on data: EvaluationData) -> Double {
            trial.assign(theta)
            trial.add(step, scaledBy: Scalar(rate))
            valueEvaluations += 1
            return objective.value(at: trial, cases: data == .fullData ? .all : batch)
        }
        // When the batch is the whole set, "curvature batch" data is the full data.
        func resolved(_ d: EvaluationData) -> EvaluationData { batchSize >= caseCount ? .fullData : d }

        var chosen = cg.iterates.count - 1
        var fullValueAtChosen: Double? = nil
        if c.backtracking && cg.iterates.count > 1 {
            let data = resolved(c.backtrackingData)
            let b = backtrackCGIterates(count: cg.iterates.count) { j in value(at: cg.iterates[j].solution, rate: 1, on: data) }
            chosen = b.index
            if data == .fullData { fullValueAtChosen = b.value }
        }
        // Only the chosen iterate is needed from here on.
        let chosenIterate = cg.iterates[chosen]
        cg.iterates.removeAll()
        let p = chosenIterate.solution
        func fullValueAtStep() -> Double {
            if let v = fullValueAtChosen { return v }
            let v = value(at: p, rate: 1, on: .fullData)
            fullValueAtChosen = v
            return v
        }

        // 6. rho (section 4.1; Martens: chunk objective, undamped model with weight cost).
        // CG already knows the damped model at every stored iterate: phi(p) = g'p +
        // p'(B + lambda I)p / 2 = q(p) - q(0); the undamped model is phi(p) - lambda |p|^2 / 2.
        // So rho needs no curvature product of its own.
        let gp = current!.gradient.dot(p)
        var modelChange = chosenIterate.phi
        if c.reductionRatioModel == .undamped { modelChange -= 0.5 * lambda * p.squaredNorm }
        let rhoData = resolved(c.reductionRatioData)
        let (fOld, fNew): (Double, Double)
        if rhoData == .fullData {
            (fOld, fNew) = (f0, fullValueAtStep())
        } else {
            fNew = value(at: p, rate: 1, on: .curvatureBatch)
            // The linearization's forward pass already gave f(theta) on the batch.
            if let known = batchValueAtTheta {
                fOld = known
            } else {
                valueEvaluations += 1
                fOld = objective.value(at: theta, cases: batch)
            }
        }
        func reductionRatio(_ before: Double, _ after: Double) -> Double {
            !after.isFinite || after > before ? -.infinity : (after - before) / modelChange
        }
        let rho = reductionRatio(fOld, fNew)

        // 7. Armijo backtracking line search (Martens' code; full data).
        var rate = 1.0
        var reductions = 0
        let f1 = fullValueAtStep()
        let fullDataRho = reductionRatio(f0, f1)
        if c.lineSearch {
            var f = f1
            var accepted = false
            while true {
                if f.isFinite && f <= f0 + c.lineSearchSufficientDecrease * rate * gp { accepted = true; break }
                if reductions + 1 >= c.lineSearchMaximumTries { break }
                rate *= c.lineSearchShrinkFactor
                reductions += 1
                f = value(at: p, rate: rate, on: .fullData)
            }
            if !accepted { rate = 0 }
        } else if !f1.isFinite {
            rate = 0  // a step with a non-finite objective is never applied
        }
        s.valueEvaluations += valueEvaluations
        timings.backtrackingAndLineSearch += seconds(clock.now - mark)

        // 8. Levenberg-Marquardt damping (section 4.1) and the update.
        s.lambda = updatedLambda(lambda, reductionRatio: rho, configuration: c)
        if rate > 0 {
            s.parameters.add(p, scaledBy: Scalar(rate))
            s.cachedEvaluation = nil
        }
        // The old evaluation's vectors hold the new gradient and g^2 (when nothing else
        // holds them: the state's copy is gone once the step was taken).
        let spent = current
        current = nil
        mark = clock.now
        let next = try evaluation(&s, objective, reusing: consume spent)
        timings.gradient += seconds(clock.now - mark)
        s.iteration = iteration
        timings.total = seconds(clock.now - iterationStart)

        let record = HessianFreeRecord(
            iteration: iteration, objective: f0, gradientNorm: gradientNorm,
            objectiveAfter: next.value, gradientNormAfter: next.gradient.norm,
            lambda: lambda, lambdaAfter: s.lambda, reductionRatio: rho,
            modelChange: modelChange, fullDataReductionRatio: fullDataRho,
            curvatureBatchSize: batchSize,
            conjugateGradientIterations: cg.iterations, conjugateGradientTermination: cg.termination,
            chosenIterate: chosenIterate.iteration,
            lineSearchRate: rate, lineSearchReductions: reductions, stepAccepted: rate > 0,
            stepNorm: rate * p.norm, nonFiniteDirection: false,
            gradientEvaluations: s.gradientEvaluations, valueEvaluations: s.valueEvaluations,
            curvatureProducts: s.curvatureProducts, totalConjugateGradientIterations: s.conjugateGradientIterations,
            seconds: timings)
        return (s, record)
    }
}

@inline(__always) func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

#if canImport(Glibc)
import Glibc
@inline(__always) func powDouble(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
@inline(__always) func expDouble(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) func log1pDouble(_ x: Double) -> Double { Glibc.log1p(x) }
#else
import Darwin
@inline(__always) func powDouble(_ x: Double, _ y: Double) -> Double { Darwin.pow(x, y) }
@inline(__always) func expDouble(_ x: Double) -> Double { Darwin.exp(x) }
@inline(__always) func log1pDouble(_ x: Double) -> Double { Darwin.log1p(x) }
#endif
