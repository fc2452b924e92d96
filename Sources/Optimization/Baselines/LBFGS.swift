import LinearAlgebra

/// Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989) with the two-loop recursion
/// (Nocedal & Wright 2006, Algorithm 7.4), the initial inverse Hessian gamma I with
/// gamma = s'y / y'y (eq. 7.20), and a strong-Wolfe line search: a full-batch quasi-Newton
/// reference for Hessian-free optimization. A step is one line search.
///
/// A pair (s, y) is stored only when s'y > `curvatureThreshold` * |s| |y|, which keeps the
/// implicit inverse Hessian positive definite even when the line search ended early. After a
/// failed line search the memory is cleared and the next step is steepest descent.
public struct LBFGS<Scalar: BLASScalar>: FirstOrderOptimizer {
    public struct Configuration: Codable, Sendable, Equatable {
        /// m, the number of (s, y) pairs kept. 10: within the 3-20 Nocedal & Wright (2006,
        /// section 7.2) suggest, and SciPy's L-BFGS-B default (`maxcor`).
        public var memory: Int
        /// Cases used for every evaluation; nil (full batch) is the method as published.
        public var casesPerBatch: Int?
        /// rho 1e-4, sigma 0.9 (Nocedal & Wright 2006, section 3.1) with `minimize.m`'s
        /// bracketing constants.
        public var lineSearch: WolfeLineSearch
        /// Skip an update when s'y <= this times |s| |y|. 1e-10: only guards against a
        /// numerically non-positive pair.
        public var curvatureThreshold: Double
        /// Length of the very first step (taken along -g / |g|, i.e. alpha = this / |g|). 1.
        public var firstStepLength: Double
        /// Failed line searches in a row (the second one from steepest descent) after which
        /// the state is marked stalled.
        public var failuresBeforeGivingUp: Int

        public init(memory: Int = 10, casesPerBatch: Int? = nil, lineSearch: WolfeLineSearch = .quasiNewton,
                    curvatureThreshold: Double = 1e-10, firstStepLength: Double = 1, failuresBeforeGivingUp: Int = 2) {
            self.memory = memory; self.casesPerBatch = casesPerBatch; self.lineSearch = lineSearch
            self.curvatureThreshold = curvatureThreshold; self.firstStepLength = firstStepLength
            self.failuresBeforeGivingUp = failuresBeforeGivingUp
        }
    }

    public struct State: FirstOrderState {
        public var parameters: Vector<Scalar>
        public var iteration: Int
        public var cursor: MiniBatchCursor
        /// f and grad f at `parameters` (nil until evaluated).
        public var value: Double?
        public var gradient: Vector<Scalar>?
        /// The stored pairs, oldest first: s_k = theta_{k+1} - theta_k, y_k = g_{k+1} - g_k.
        public var steps: [Vector<Scalar>]
        public var gradientChanges: [Vector<Scalar>]
        public var consecutiveFailures: Int
        /// The line search failed `failuresBeforeGivingUp` times in a row: further steps would
        /// not move.
        public var stalled: Bool
        var counts: EvaluationCounts
    }

    public let configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        let c = configuration
        precondition(c.memory >= 1, "memory must be at least 1, got \(c.memory)")
        if let b = c.casesPerBatch { precondition(b > 0, "casesPerBatch must be positive, got \(b)") }
        precondition(c.curvatureThreshold >= 0, "curvatureThreshold must be non-negative")
        precondition(c.firstStepLength > 0 && c.firstStepLength.isFinite, "firstStepLength must be positive")
        precondition(c.failuresBeforeGivingUp >= 1, "failuresBeforeGivingUp must be at least 1")
        c.lineSearch.validate()
        self.configuration = c
    }

    public func makeState(parameters: Vector<Scalar>, caseCount: Int, seed: UInt64) -> State {
        State(parameters: parameters, iteration: 0,
              cursor: MiniBatchCursor(caseCount: caseCount, batchSize: configuration.casesPerBatch, seed: seed),
              value: nil, gradient: nil, steps: [], gradientChanges: [], consecutiveFailures: 0, stalled: false,
              counts: EvaluationCounts())
    }

    /// -H g by the two-loop recursion over the stored pairs.
    static func direction(gradient g: Vector<Scalar>, steps: [Vector<Scalar>], gradientChanges: [Vector<Scalar>]) -> Vector<Scalar> {
        var q = g
        let k = steps.count
        var alphas = [Double](repeating: 0, count: k)
        var rhos = [Double](repeating: 0, count: k)
        for i in stride(from: k - 1, through: 0, by: -1) {
            rhos[i] = 1 / gradientChanges[i].dot(steps[i])
            alphas[i] = rhos[i] * steps[i].dot(q)
            q.add(gradientChanges[i], scaledBy: Scalar(-alphas[i]))
        }
        if let s = steps.last, let y = gradientChanges.last {
            q.scale(by: Scalar(s.dot(y) / y.squaredNorm))
        }
        for i in 0..<k {
            let beta = rhos[i] * gradientChanges[i].dot(q)
            q.add(steps[i], scaledBy: Scalar(alphas[i] - beta))
        }
        q.scale(by: -1)
        return q
    }

    public func step<Objective: StochasticObjective>(_ state: State, objective: Objective) throws
        -> (state: State, record: FirstOrderRecord) where Objective.Scalar == Scalar {
        state.precondition(matches: objective)
        let start = ContinuousClock.now
        var s = state
        let total = objective.caseCount
        // Full batch: one selection for the whole run. Mini-batch: a new batch every step
        // (the memory then mixes batches; a stochastic variant, not the published method).
        let cases = s.cursor.batchSize == nil ? CaseSelection.all : s.cursor.next()
        if s.value == nil || s.cursor.batchSize != nil {
            let e = try objective.valueAndGradient(at: s.parameters, cases: cases)
            s.counts.count(cases, of: total)
            guard e.gradient.isFinite, e.value.isFinite else { throw ObjectiveError.nonFiniteGradient }
            s.value = e.value; s.gradient = e.gradient
        }
        let g0 = s.gradient!
        var d = Self.direction(gradient: g0, steps: s.steps, gradientChanges: s.gradientChanges)
        var slope = g0.dot(d)
        if !(slope < 0) || !d.isFinite {
            s.steps.removeAll(); s.gradientChanges.removeAll()
            d = g0; d.scale(by: -1)
            slope = -g0.squaredNorm
        }
        let gradientNorm0 = g0.norm
        let initialStep = s.steps.isEmpty ? configuration.firstStepLength / max(gradientNorm0, .leastNormalMagnitude) : 1
        let x0 = s.parameters
        var trialPoint = x0
        let direction = d
        let result = try configuration.lineSearch.search(value0: s.value!, slope0: slope,
                                                         initialStep: initialStep) { alpha -> LineSearchPoint<Vector<Scalar>> in
            trialPoint.assign(x0)
            trialPoint.add(direction, scaledBy: Scalar(alpha))
            let e = try objective.valueAndGradient(at: trialPoint, cases: cases)
            s.counts.count(cases, of: total)
            return LineSearchPoint(value: e.value, slope: e.gradient.isFinite ? e.gradient.dot(direction) : .nan,
                                   payload: e.gradient)
        }
        if let g1 = result.payload {
            s.parameters.add(direction, scaledBy: Scalar(result.step))
            var step = direction
            step.scale(by: Scalar(result.step))
            var change = g1
            change.add(g0, scaledBy: -1)
            s.value = result.value
            s.gradient = g1
            if result.termination == .wolfeSatisfied
                && step.dot(change) > configuration.curvatureThreshold * step.norm * change.norm {
                s.steps.append(step); s.gradientChanges.append(change)
                if s.steps.count > configuration.memory { s.steps.removeFirst(); s.gradientChanges.removeFirst() }
            }
        }
        if result.termination == .wolfeSatisfied {
            s.consecutiveFailures = 0
        } else {
            s.consecutiveFailures += 1
            s.steps.removeAll(); s.gradientChanges.removeAll()
            if s.consecutiveFailures >= configuration.failuresBeforeGivingUp { s.stalled = true }
        }
        if result.termination == .notDescentDirection { s.stalled = true }
        s.iteration += 1
        let record = s.counts.record(iteration: s.iteration, total: total, batch: cases, value: s.value!,
                                     gradientNorm: s.gradient!.norm, stepSize: distance(s.parameters, x0),
                                     learningRate: result.step, lineSearch: result.termination, start: start)
        return (s, record)
    }
}
