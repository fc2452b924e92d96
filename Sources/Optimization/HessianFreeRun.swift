import LinearAlgebra

/// When a run stops. Each rule is off when nil.
public struct StoppingRules: Codable, Sendable, Equatable {
    /// Stop once the state has completed this many HF iterations (counted over resumes).
    public var maximumIterations: Int?
    /// Stop once this many seconds of wall-clock time have passed in this `run` call.
    public var wallClockSeconds: Double?
    /// Stop once the full-data objective is at or below this value.
    public var targetObjective: Double?
    /// Stop once the full-data gradient norm is at or below this value.
    public var gradientTolerance: Double?

    public init(maximumIterations: Int? = nil, wallClockSeconds: Double? = nil,
                targetObjective: Double? = nil, gradientTolerance: Double? = nil) {
        self.maximumIterations = maximumIterations; self.wallClockSeconds = wallClockSeconds
        self.targetObjective = targetObjective; self.gradientTolerance = gradientTolerance
    }
}

/// Why a run stopped.
public enum StopReason: String, Codable, Sendable, Equatable {
    case maximumIterations = "maximum-iterations"
    case wallClockLimit = "wall-clock-limit"
    case targetObjective = "target-objective"
    case gradientTolerance = "gradient-tolerance"
    /// The observer asked to stop (SIGINT, a checkpoint policy, ...).
    case observer
}

/// What an observer tells the run after each iteration.
public enum ObserverDecision: Sendable, Equatable {
    case proceed
    case stop
}

/// The result of a run.
public struct HessianFreeRunResult<Scalar: BLASScalar>: Sendable {
    /// The state after the last iteration: pass it to `run` again to resume.
    public var state: HessianFreeState<Scalar>
    /// One record per iteration of this call.
    public var records: [HessianFreeRecord]
    public var stopReason: StopReason
    /// The full-data objective at `state.parameters`.
    public var finalObjective: Double
    /// The full-data gradient norm at `state.parameters`.
    public var finalGradientNorm: Double
}

extension HessianFreeOptimizer {
    /// Runs HF iterations from `state` until a stopping rule holds or the observer says stop.
    ///
    /// The observer is called after every iteration with the record and the new state (write a
    /// checkpoint there; return `.stop` on SIGINT). The target and gradient rules are checked
    /// at the start too, so a converged state costs one evaluation and no CG. Errors from
    /// `step` (a non-finite gradient names its iteration) propagate.
    public func run<O: HFObjective>(_ objective: O, from state: HessianFreeState<Scalar>, stopping: StoppingRules,
                                    observer: ((HessianFreeRecord, HessianFreeState<Scalar>) -> ObserverDecision)? = nil) throws
    -> HessianFreeRunResult<Scalar> where O.Scalar == Scalar {
        let clock = ContinuousClock()
        let start = clock.now
        var records: [HessianFreeRecord] = []
        var (s, f, gNorm) = try evaluated(state, on: objective)

        func reason(objective f: Double, gradientNorm g: Double) -> StopReason? {
            if let t = stopping.targetObjective, f <= t { return .targetObjective }
            if let t = stopping.gradientTolerance, g <= t { return .gradientTolerance }
            if let m = stopping.maximumIterations, s.iteration >= m { return .maximumIterations }
            if let w = stopping.wallClockSeconds, seconds(clock.now - start) >= w { return .wallClockLimit }
            return nil
        }
        var stop = reason(objective: f, gradientNorm: gNorm)
        while stop == nil {
            let (next, record) = try step(s, on: objective)
            s = next
            records.append(record)
            f = record.objectiveAfter; gNorm = record.gradientNormAfter
            if let o = observer, o(record, s) == .stop { stop = .observer; break }
            stop = reason(objective: f, gradientNorm: gNorm)
        }
        return HessianFreeRunResult(state: s, records: records, stopReason: stop!, finalObjective: f, finalGradientNorm: gNorm)
    }
}
