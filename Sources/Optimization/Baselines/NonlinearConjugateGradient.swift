import LinearAlgebra

/// Nonlinear conjugate gradients, Polak-Ribiere with the PR+ restart beta = max(beta_PR, 0)
/// (Gilbert & Nocedal 1992), with a strong-Wolfe line search (`WolfeLineSearch`): the
/// fine-tuning method of Hinton & Salakhutdinov (2006), the "PT+NCG" column of Martens
/// (2010) Table 2.
///
/// H&S's schedule (their `backprop.m`): the training set is split into groups of 1000 cases
/// (ten of their 100-case batches), and for each group Rasmussen's `minimize.m` runs 3 line
/// searches, starting from steepest descent; the groups are visited in turn, epoch after
/// epoch. Here `casesPerBatch` and `lineSearchesPerBatch` are those two numbers, a new batch
/// always restarts the direction at steepest descent, and a step is one line search.
/// `casesPerBatch` nil gives full-batch nonlinear CG (restarted only after a failed search).
///
/// `backprop.m` fine-tunes every layer from the first epoch; the "update top-level weights
/// holding other weights fixed" phase (`epoch < 6`) belongs to H&S's classifier script
/// `backpropclassify.m`, not to the auto-encoders of Table 2, and is not implemented. One
/// difference from H&S: `MiniBatchCursor` draws a new permutation for each pass, where their
/// `makebatches.m` fixes one permutation for the whole run.
public struct NonlinearConjugateGradient<Scalar: BLASScalar>: FirstOrderOptimizer {
    public struct Configuration: Codable, Sendable, Equatable {
        /// Cases per mini-batch; nil for the full training set. H&S `backprop.m`: 1000.
        public var casesPerBatch: Int?
        /// Line searches on each mini-batch before moving to the next. H&S `backprop.m`:
        /// `max_iter = 3`. Ignored in full-batch mode.
        public var lineSearchesPerBatch: Int
        /// The line search. Default: `minimize.m`'s constants (rho 0.05, sigma 0.1).
        public var lineSearch: WolfeLineSearch
        /// The next search starts at the last step times min(this, old slope / new slope).
        /// `minimize.m`: RATIO = 10.
        public var maximumStepGrowth: Double
        /// After this many failed line searches in a row, the state is marked stalled
        /// (full batch) or the next mini-batch is taken. `minimize.m` gives up after 2.
        public var failuresBeforeGivingUp: Int

        public init(casesPerBatch: Int? = 1000, lineSearchesPerBatch: Int = 3,
                    lineSearch: WolfeLineSearch = WolfeLineSearch(), maximumStepGrowth: Double = 10,
                    failuresBeforeGivingUp: Int = 2) {
            self.casesPerBatch = casesPerBatch; self.lineSearchesPerBatch = lineSearchesPerBatch
            self.lineSearch = lineSearch; self.maximumStepGrowth = maximumStepGrowth
            self.failuresBeforeGivingUp = failuresBeforeGivingUp
        }
    }

    public struct State: FirstOrderState {
        public var parameters: Vector<Scalar>
        public var iteration: Int
        public var cursor: MiniBatchCursor
        /// The current mini-batch (nil before the first step).
        public var batch: CaseSelectionRecord?
        public var lineSearchesOnBatch: Int
        /// f and grad f at `parameters` on `batch` (nil until evaluated).
        public var value: Double?
        public var gradient: Vector<Scalar>?
        /// The search direction s and the slope grad f . s.
        public var direction: Vector<Scalar>?
        public var slope: Double
        /// Trial step for the next line search.
        public var nextInitialStep: Double
        public var consecutiveFailures: Int
        /// Full batch only: the line search failed `failuresBeforeGivingUp` times in a row
        /// from steepest descent, so further steps would not move (minimize.m stops here).
        public var stalled: Bool
        var counts: EvaluationCounts
    }

    public let configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        if let b = configuration.casesPerBatch { precondition(b > 0, "casesPerBatch must be positive, got \(b)") }
        precondition(configuration.lineSearchesPerBatch >= 1, "lineSearchesPerBatch must be at least 1")
        precondition(configuration.maximumStepGrowth > 1, "maximumStepGrowth must exceed 1")
        precondition(configuration.failuresBeforeGivingUp >= 1, "failuresBeforeGivingUp must be at least 1")
        configuration.lineSearch.validate()
        self.configuration = configuration
    }

    public func makeState(parameters: Vector<Scalar>, caseCount: Int, seed: UInt64) -> State {
        State(parameters: parameters, iteration: 0,
              cursor: MiniBatchCursor(caseCount: caseCount, batchSize: configuration.casesPerBatch, seed: seed),
              batch: nil, lineSearchesOnBatch: 0, value: nil, gradient: nil, direction: nil, slope: 0,
              nextInitialStep: 1, consecutiveFailures: 0, stalled: false, counts: EvaluationCounts())
    }

    /// Steepest descent from the current gradient; minimize.m's first trial step 1 / (1 - d0).
    private func restart(_ s: inout State) {
        guard let g = s.gradient else { return }
        var d = g
        d.scale(by: -1)
        s.slope = -g.squaredNorm
        s.direction = d
        s.nextInitialStep = 1 / (1 - s.slope)
    }

    public func step<Objective: StochasticObjective>(_ state: State, objective: Objective) throws
        -> (state: State, record: FirstOrderRecord) where Objective.Scalar == Scalar {
        state.precondition(matches: objective)
        let start = ContinuousClock.now
        var s = state
        let total = objective.caseCount
        let fullBatch = s.cursor.batchSize == nil
        let needsBatch = s.batch == nil || s.value == nil
            || (!fullBatch && s.lineSearchesOnBatch >= configuration.lineSearchesPerBatch)
        if needsBatch {
            let cases = s.cursor.next()
            s.batch = CaseSelectionRecord(cases)
            let e = try objective.valueAndGradient(at: s.parameters, cases: cases)
            s.counts.count(cases, of: total)
            guard e.gradient.isFinite, e.value.isFinite else { throw ObjectiveError.nonFiniteGradient }
            s.value = e.value; s.gradient = e.gradient
            s.lineSearchesOnBatch = 0; s.consecutiveFailures = 0
            restart(&s)
        }
        let cases = s.batch!.selection
        let x0 = s.parameters
        let g0 = s.gradient!, d = s.direction!
        var trialPoint = x0
        let result = try configuration.lineSearch.search(value0: s.value!, slope0: s.slope,
                                                         initialStep: s.nextInitialStep) { alpha -> LineSearchPoint<(Double, Vector<Scalar>)> in
            trialPoint.assign(x0)
            trialPoint.add(d, scaledBy: Scalar(alpha))
            let e = try objective.valueAndGradient(at: trialPoint, cases: cases)
            s.counts.count(cases, of: total)
            return LineSearchPoint(value: e.value, slope: e.gradient.isFinite ? e.gradient.dot(d) : .nan,
                                   payload: (e.value, e.gradient))
        }
        s.lineSearchesOnBatch += 1
        if let (_, g1) = result.payload {
            s.parameters.add(d, scaledBy: Scalar(result.step))
            s.value = result.value
            s.gradient = g1
        }
        if result.termination == .wolfeSatisfied {
            s.consecutiveFailures = 0
            // Polak-Ribiere with the PR+ restart: beta = max(0, g1.(g1 - g0) / g0.g0).
            let g1 = s.gradient!
            let g0g0 = g0.squaredNorm
            let beta = g0g0 > 0 ? max(0, (g1.squaredNorm - g0.dot(g1)) / g0g0) : 0
            var newDirection = d
            newDirection.scale(by: Scalar(beta))
            newDirection.add(g1, scaledBy: -1)
            let oldSlope = s.slope
            var newSlope = g1.dot(newDirection)
            if !(newSlope < 0) {
                newDirection.assign(g1); newDirection.scale(by: -1)
                newSlope = -g1.squaredNorm
            }
            s.direction = newDirection
            s.slope = newSlope
            // minimize.m: x3 = x3 * min(RATIO, d_old / d_new).
            let growth = newSlope < 0 ? min(configuration.maximumStepGrowth, oldSlope / newSlope) : 1
            s.nextInitialStep = result.step * growth
            if !(s.nextInitialStep > 0 && s.nextInitialStep.isFinite) { restart(&s) }
        } else {
            s.consecutiveFailures += 1
            restart(&s)
            if s.consecutiveFailures >= configuration.failuresBeforeGivingUp {
                if fullBatch { s.stalled = true } else { s.lineSearchesOnBatch = configuration.lineSearchesPerBatch }
            }
        }
        if s.slope == 0 && fullBatch { s.stalled = true }
        s.iteration += 1
        let record = s.counts.record(iteration: s.iteration, total: total, batch: cases, value: s.value!,
                                     gradientNorm: s.gradient!.norm, stepSize: distance(s.parameters, x0),
                                     learningRate: result.step, lineSearch: result.termination, start: start)
        return (s, record)
    }
}

/// A `CaseSelection` in a `Codable` form, for optimizer states.
public struct CaseSelectionRecord: Codable, Sendable, Equatable {
    /// nil for all cases.
    public var indices: [Int]?
    public init(_ selection: CaseSelection) {
        switch selection {
        case .all: indices = nil
        case .indices(let i): indices = i
        }
    }
    public var selection: CaseSelection { indices.map { .indices($0) } ?? .all }
}
