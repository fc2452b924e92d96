import LinearAlgebra

/// A learning-rate schedule: the rate for step t (t = 0 for the first step) from a base rate.
public enum LearningRateSchedule: Codable, Sendable, Equatable {
    /// epsilon_t = epsilon.
    case constant
    /// epsilon_t = epsilon * factor^floor(t / every) (step decay).
    case stepDecay(factor: Double, every: Int)
    /// epsilon_t = epsilon / (1 + decay * t) (the 1/t schedule of Robbins & Monro 1951).
    case inverseTime(decay: Double)

    /// The rate for step `t` (0-based).
    public func rate(base: Double, step t: Int) -> Double {
        switch self {
        case .constant: return base
        case .stepDecay(let factor, let every): return base * integerPower(factor, t / every)
        case .inverseTime(let decay): return base / (1 + decay * Double(t))
        }
    }

    public func validate() {
        switch self {
        case .constant: break
        case .stepDecay(let factor, let every):
            precondition(factor > 0 && factor <= 1, "step-decay factor must be in (0, 1], got \(factor)")
            precondition(every >= 1, "step-decay interval must be at least 1, got \(every)")
        case .inverseTime(let decay):
            precondition(decay >= 0, "1/t decay must be non-negative, got \(decay)")
        }
    }
}

/// x^n for n >= 0 by repeated squaring (avoids importing Foundation into the optimizer).
private func integerPower(_ x: Double, _ exponent: Int) -> Double {
    var r = 1.0
    var n = exponent
    var b = x
    while n > 0 { if n & 1 == 1 { r *= b }; b *= b; n >>= 1 }
    return r
}

/// The momentum variant of `StochasticGradientDescent`.
public enum MomentumKind: String, Codable, Sendable, Equatable, CaseIterable {
    /// Plain SGD: v = -epsilon g(theta).
    case none
    /// Classical (heavy-ball, Polyak 1964): v = mu v - epsilon g(theta); theta += v.
    case classical
    /// Nesterov's accelerated gradient in the form of Sutskever et al. (2013), eq. (3)-(4):
    /// v = mu v - epsilon g(theta + mu v); theta += v.
    case nesterov
}

/// Mini-batch stochastic gradient descent with momentum and a learning-rate schedule: the
/// first-order baseline that Martens (2010) section 1 and Figure 1 argue against.
/// A step is one mini-batch update; batches are slices of a seeded permutation.
public struct StochasticGradientDescent<Scalar: BLASScalar>: FirstOrderOptimizer {
    public struct Configuration: Codable, Sendable, Equatable {
        /// Base learning rate epsilon. No published default fits every problem; 0.01 is a
        /// common starting point for logistic auto-encoders with momentum 0.9.
        public var learningRate: Double
        /// mu. 0.9: the usual value (Sutskever et al. 2013; H&S's RBM `finalmomentum`).
        public var momentum: Double
        public var momentumKind: MomentumKind
        public var schedule: LearningRateSchedule
        /// Cases per mini-batch; nil for the full training set. 100: H&S's batch size.
        public var batchSize: Int?

        public init(learningRate: Double = 0.01, momentum: Double = 0.9, momentumKind: MomentumKind = .classical,
                    schedule: LearningRateSchedule = .constant, batchSize: Int? = 100) {
            self.learningRate = learningRate; self.momentum = momentum; self.momentumKind = momentumKind
            self.schedule = schedule; self.batchSize = batchSize
        }
    }

    public struct State: FirstOrderState {
        public var parameters: Vector<Scalar>
        /// v, the accumulated update.
        public var velocity: Vector<Scalar>
        public var iteration: Int
        public var cursor: MiniBatchCursor
        var counts: EvaluationCounts
    }

    public let configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.learningRate > 0 && configuration.learningRate.isFinite,
                     "learning rate must be positive, got \(configuration.learningRate)")
        precondition(configuration.momentum >= 0 && configuration.momentum < 1,
                     "momentum must be in [0, 1), got \(configuration.momentum)")
        if let b = configuration.batchSize { precondition(b > 0, "batch size must be positive, got \(b)") }
        configuration.schedule.validate()
        self.configuration = configuration
    }

    public func makeState(parameters: Vector<Scalar>, caseCount: Int, seed: UInt64) -> State {
        State(parameters: parameters, velocity: Vector(zeros: parameters.count), iteration: 0,
              cursor: MiniBatchCursor(caseCount: caseCount, batchSize: configuration.batchSize, seed: seed),
              counts: EvaluationCounts())
    }

    public func step<Objective: StochasticObjective>(_ state: State, objective: Objective) throws
        -> (state: State, record: FirstOrderRecord) where Objective.Scalar == Scalar {
        state.precondition(matches: objective)
        let start = ContinuousClock.now
        var s = state
        let cases = s.cursor.next()
        let epsilon = configuration.schedule.rate(base: configuration.learningRate, step: s.iteration)
        let mu = configuration.momentumKind == .none ? 0 : configuration.momentum
        let evaluation: (value: Double, gradient: Vector<Scalar>)
        if configuration.momentumKind == .nesterov {
            var lookahead = s.parameters
            lookahead.add(s.velocity, scaledBy: Scalar(mu))
            evaluation = try objective.valueAndGradient(at: lookahead, cases: cases)
        } else {
            evaluation = try objective.valueAndGradient(at: s.parameters, cases: cases)
        }
        s.counts.count(cases, of: objective.caseCount)
        guard evaluation.gradient.isFinite else { throw ObjectiveError.nonFiniteGradient }
        s.velocity.scale(by: Scalar(mu))
        s.velocity.add(evaluation.gradient, scaledBy: Scalar(-epsilon))
        s.parameters.add(s.velocity)
        s.iteration += 1
        let record = s.counts.record(iteration: s.iteration, total: objective.caseCount, batch: cases, value: evaluation.value,
                                     gradientNorm: evaluation.gradient.norm, stepSize: s.velocity.norm,
                                     learningRate: epsilon, lineSearch: nil, start: start)
        return (s, record)
    }
}

/// Adam (Kingma & Ba 2015, Algorithm 1), mini-batch, with an optional learning-rate schedule.
/// A step is one mini-batch update.
public struct Adam<Scalar: BLASScalar>: FirstOrderOptimizer {
    public struct Configuration: Codable, Sendable, Equatable {
        /// alpha. Kingma & Ba: 0.001.
        public var learningRate: Double
        /// beta1. Kingma & Ba: 0.9.
        public var beta1: Double
        /// beta2. Kingma & Ba: 0.999.
        public var beta2: Double
        /// epsilon. Kingma & Ba: 1e-8.
        public var epsilon: Double
        public var schedule: LearningRateSchedule
        /// Cases per mini-batch; nil for the full training set. 100: H&S's batch size.
        public var batchSize: Int?

        public init(learningRate: Double = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                    schedule: LearningRateSchedule = .constant, batchSize: Int? = 100) {
            self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
            self.schedule = schedule; self.batchSize = batchSize
        }
    }

    public struct State: FirstOrderState {
        public var parameters: Vector<Scalar>
        /// m: biased first-moment estimate.
        public var firstMoment: Vector<Scalar>
        /// v: biased second raw-moment estimate.
        public var secondMoment: Vector<Scalar>
        /// beta1^t and beta2^t, kept as running products so resume is exact.
        public var beta1Power: Double
        public var beta2Power: Double
        public var iteration: Int
        public var cursor: MiniBatchCursor
        var counts: EvaluationCounts
    }

    public let configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        let c = configuration
        precondition(c.learningRate > 0 && c.learningRate.isFinite, "learning rate must be positive, got \(c.learningRate)")
        precondition(c.beta1 >= 0 && c.beta1 < 1, "beta1 must be in [0, 1), got \(c.beta1)")
        precondition(c.beta2 >= 0 && c.beta2 < 1, "beta2 must be in [0, 1), got \(c.beta2)")
        precondition(c.epsilon > 0, "epsilon must be positive, got \(c.epsilon)")
        if let b = c.batchSize { precondition(b > 0, "batch size must be positive, got \(b)") }
        c.schedule.validate()
        self.configuration = c
    }

    public func makeState(parameters: Vector<Scalar>, caseCount: Int, seed: UInt64) -> State {
        State(parameters: parameters, firstMoment: Vector(zeros: parameters.count),
              secondMoment: Vector(zeros: parameters.count), beta1Power: 1, beta2Power: 1, iteration: 0,
              cursor: MiniBatchCursor(caseCount: caseCount, batchSize: configuration.batchSize, seed: seed),
              counts: EvaluationCounts())
    }

    public func step<Objective: StochasticObjective>(_ state: State, objective: Objective) throws
        -> (state: State, record: FirstOrderRecord) where Objective.Scalar == Scalar {
        state.precondition(matches: objective)
        let start = ContinuousClock.now
        var s = state
        let cases = s.cursor.next()
        let alpha = configuration.schedule.rate(base: configuration.learningRate, step: s.iteration)
        let e = try objective.valueAndGradient(at: s.parameters, cases: cases)
        s.counts.count(cases, of: objective.caseCount)
        guard e.gradient.isFinite else { throw ObjectiveError.nonFiniteGradient }
        let (b1, b2) = (configuration.beta1, configuration.beta2)
        s.beta1Power *= b1
        s.beta2Power *= b2
        let squaredStep = adamUpdate(parameters: &s.parameters, firstMoment: &s.firstMoment, secondMoment: &s.secondMoment,
                                     gradient: e.gradient, learningRate: alpha, beta1: b1, beta2: b2,
                                     epsilon: configuration.epsilon, beta1Power: s.beta1Power, beta2Power: s.beta2Power)
        s.iteration += 1
        let record = s.counts.record(iteration: s.iteration, total: objective.caseCount, batch: cases, value: e.value,
                                     gradientNorm: e.gradient.norm, stepSize: squaredStep.squareRoot(),
                                     learningRate: alpha, lineSearch: nil, start: start)
        return (s, record)
    }
}

/// Kingma & Ba's update, in place: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
/// theta -= alpha (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon). Returns the
/// squared norm of the step.
// @_specialize: the generic entry jumps to a Float or Double body instead of making protocol
// witness calls per parameter.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func adamUpdate<Scalar: BLASScalar>(parameters: inout Vector<Scalar>, firstMoment: inout Vector<Scalar>,
                                    secondMoment: inout Vector<Scalar>, gradient: Vector<Scalar>,
                                    learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
                                    beta1Power: Double, beta2Power: Double) -> Double {
    let n = parameters.count
    precondition(firstMoment.count == n && secondMoment.count == n && gradient.count == n, "Adam vectors differ in length")
    let c1 = Scalar(1 / (1 - beta1Power)), c2 = Scalar(1 / (1 - beta2Power))
    let (sb1, sb2, eps, a) = (Scalar(beta1), Scalar(beta2), Scalar(epsilon), Scalar(learningRate))
    var squaredStep = 0.0
    gradient.elements.withUnsafeBufferPointer { g in
        firstMoment.elements.withUnsafeMutableBufferPointer { m in
            secondMoment.elements.withUnsafeMutableBufferPointer { v in
                parameters.elements.withUnsafeMutableBufferPointer { x in
                    for i in 0..<n {
                        m[i] = sb1 * m[i] + (1 - sb1) * g[i]
                        v[i] = sb2 * v[i] + (1 - sb2) * g[i] * g[i]
                        let update = a * (m[i] * c1) / ((v[i] * c2).squareRoot() + eps)
                        x[i] -= update
                        squaredStep += Double(update) * Double(update)
                    }
                }
            }
        }
    }
    return squaredStep
}
