import LinearAlgebra

/// What one step of a baseline optimizer reports (nonlinear CG, SGD, Adam, L-BFGS).
///
/// An "iteration" is the method's natural step: one line search for nonlinear CG and L-BFGS,
/// one mini-batch update for SGD and Adam. Counters are cumulative since the run started, so
/// a record read alone says how much work has been done.
public struct FirstOrderRecord: Codable, Sendable, Equatable {
    /// Steps completed, this one included (1 after the first step).
    public var iteration: Int
    /// Work so far in passes through the training set: `casesEvaluated / caseCount` (every
    /// evaluation counts, line-search trials included).
    public var epoch: Double
    /// Objective on the cases this step used. SGD and Adam: at the point where the gradient
    /// was taken (before the update). Nonlinear CG and L-BFGS: at the accepted point.
    public var value: Double
    /// Norm of the gradient that goes with `value`.
    public var gradientNorm: Double
    /// Norm of the parameter change made by this step, ||theta_new - theta_old||.
    public var stepSize: Double
    /// The method's step scalar: the accepted line-search step along the search direction
    /// (nonlinear CG, L-BFGS) or the scheduled learning rate (SGD, Adam).
    public var learningRate: Double
    /// Objective evaluations so far. Every evaluation also computes the gradient
    /// (`valueAndGradient(at:cases:)`), so the two counts are equal for these methods.
    public var functionEvaluations: Int
    /// Gradient evaluations so far.
    public var gradientEvaluations: Int
    /// Sum over all evaluations of the number of cases each used: the work measure
    /// comparable between full-batch and mini-batch methods.
    public var casesEvaluated: Int
    /// Cases in the mini-batch this step used.
    public var batchCases: Int
    /// How this step's line search ended (nonlinear CG and L-BFGS only).
    public var lineSearch: LineSearchTermination?
    /// Wall-clock seconds this step took (the caller accumulates run time).
    public var seconds: Double

    public init(iteration: Int, epoch: Double, value: Double, gradientNorm: Double, stepSize: Double,
                learningRate: Double, functionEvaluations: Int, gradientEvaluations: Int,
                casesEvaluated: Int, batchCases: Int, lineSearch: LineSearchTermination?, seconds: Double) {
        self.iteration = iteration; self.epoch = epoch; self.value = value
        self.gradientNorm = gradientNorm; self.stepSize = stepSize; self.learningRate = learningRate
        self.functionEvaluations = functionEvaluations; self.gradientEvaluations = gradientEvaluations
        self.casesEvaluated = casesEvaluated; self.batchCases = batchCases
        self.lineSearch = lineSearch; self.seconds = seconds
    }
}

/// The state of a baseline optimizer: everything a step needs, `Codable` so that a run can be
/// checkpointed and resumed bit-identically (JSON round-trips Float and Double exactly).
public protocol FirstOrderState<Scalar>: Codable, Sendable, Equatable {
    associatedtype Scalar: BLASScalar
    /// The current parameters theta.
    var parameters: Vector<Scalar> { get }
    /// Steps completed.
    var iteration: Int { get }
    /// Where the mini-batch walk through the training cases stands.
    var cursor: MiniBatchCursor { get }
    /// True when further steps cannot move the parameters (a line-search method failed
    /// repeatedly from steepest descent, or the gradient is zero): the caller should stop.
    var stalled: Bool { get }
}

extension FirstOrderState {
    /// Stochastic methods always take a step.
    public var stalled: Bool { false }

    /// Traps unless `objective` has this state's parameter and case counts (a programming
    /// error: the trainer builds both from the same objective).
    func precondition<Objective: StochasticObjective>(matches objective: Objective) where Objective.Scalar == Scalar {
        Swift.precondition(objective.parameterCount == parameters.count,
                           "objective has \(objective.parameterCount) parameters, state \(parameters.count)")
        Swift.precondition(objective.caseCount == cursor.caseCount,
                           "objective has \(objective.caseCount) cases, state \(cursor.caseCount)")
    }
}

/// A first-order or quasi-Newton baseline: `step` maps (state, objective) to (new state,
/// record) and keeps nothing between calls (STYLE principle 3).
public protocol FirstOrderOptimizer<Scalar>: Sendable {
    associatedtype Scalar: BLASScalar
    associatedtype Configuration: Codable & Sendable & Equatable
    associatedtype State: FirstOrderState where State.Scalar == Scalar

    var configuration: Configuration { get }

    /// The state before the first step, at `parameters`, for an objective with `caseCount`
    /// training cases; `seed` drives the mini-batch order. Evaluates nothing.
    func makeState(parameters: Vector<Scalar>, caseCount: Int, seed: UInt64) -> State

    /// One step (see `FirstOrderRecord.iteration`).
    func step<Objective: StochasticObjective>(_ state: State, objective: Objective) throws
        -> (state: State, record: FirstOrderRecord) where Objective.Scalar == Scalar
}

/// Walks through the training cases in mini-batches: contiguous slices of a seeded random
/// permutation, a fresh permutation for every pass. When the case count is not a multiple of
/// the batch size, the last batch of a pass holds the remainder. `batchSize` nil (or at least
/// the case count) selects `.all` every time.
public struct MiniBatchCursor: Codable, Sendable, Equatable {
    public let caseCount: Int
    public let batchSize: Int?
    /// The permutation of the current pass (empty in full-batch mode).
    public private(set) var order: [Int]
    /// Index into `order` of the next batch's first case.
    public private(set) var position: Int
    /// Passes started so far.
    public private(set) var passes: Int
    public private(set) var generator: SeededGenerator

    public init(caseCount: Int, batchSize: Int?, seed: UInt64) {
        precondition(caseCount > 0, "caseCount must be positive, got \(caseCount)")
        if let b = batchSize { precondition(b > 0, "batch size must be positive, got \(b)") }
        self.caseCount = caseCount
        self.batchSize = batchSize.flatMap { $0 >= caseCount ? nil : $0 }
        order = []; position = 0; passes = 0
        generator = SeededGenerator(seed: seed)
    }

    /// The next mini-batch.
    public mutating func next() -> CaseSelection {
        guard let b = batchSize else { passes += 1; return .all }
        if position >= order.count {
            order = generator.permutation(caseCount)
            position = 0
            passes += 1
        }
        let end = min(position + b, order.count)
        let batch = Array(order[position..<end])
        position = end
        return .indices(batch)
    }
}

/// Wall-clock seconds since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// ||a - b|| without allocating more than one temporary.
func distance<Scalar: BLASScalar>(_ a: Vector<Scalar>, _ b: Vector<Scalar>) -> Double {
    var d = a
    d.add(b, scaledBy: -1)
    return d.norm
}

/// Evaluation bookkeeping shared by the baselines.
struct EvaluationCounts: Codable, Sendable, Equatable {
    var evaluations = 0
    var casesEvaluated = 0

    mutating func count(_ cases: CaseSelection, of total: Int) {
        evaluations += 1
        casesEvaluated += cases.count(of: total)
    }

    /// The record of a step that used `batch` of `total` cases, with the counts so far
    /// (every evaluation computes value and gradient, so both counts are `evaluations`).
    func record(iteration: Int, total: Int, batch: CaseSelection, value: Double, gradientNorm: Double, stepSize: Double,
                learningRate: Double, lineSearch: LineSearchTermination?, start: ContinuousClock.Instant) -> FirstOrderRecord {
        FirstOrderRecord(iteration: iteration, epoch: Double(casesEvaluated) / Double(total), value: value,
                         gradientNorm: gradientNorm, stepSize: stepSize, learningRate: learningRate,
                         functionEvaluations: evaluations, gradientEvaluations: evaluations, casesEvaluated: casesEvaluated,
                         batchCases: batch.count(of: total), lineSearch: lineSearch, seconds: secondsSince(start))
    }
}
