import Foundation
import Reporting

/// Why a training run stopped: `summary.json`'s `stop_reason`.
public enum RunStopReason: String, Codable, Sendable, CaseIterable {
    /// `--max-iterations` reached.
    case maximumIterations = "max-iterations"
    /// `--time-limit` seconds spent in this invocation.
    case timeLimit = "time-limit"
    /// `--early-stopping N`: N evaluations in a row brought no new best validation error (or,
    /// with `--paper-style-stop N` on a run without validation data, no new best test error).
    case earlyStopping = "early-stopping"
    /// The convergence rule fired (see `ConvergenceRule`), or a baseline's line search could
    /// no longer move the parameters.
    case converged
    /// SIGINT/SIGTERM: a checkpoint was written and the run can be resumed.
    case interrupted
    /// The objective or its gradient became non-finite at the current parameters.
    case diverged
}

/// When a run has converged: the training objective fell by less than `relativeTolerance`
/// (relative to its current magnitude) over the last `window` evaluations:
///
///     f_{n-window} - f_n  <  relativeTolerance * |f_n|
///
/// Evaluations are the iterations whose training objective was computed (every iteration
/// for HF, every `--evaluation-interval` steps for the baselines). The defaults (20
/// evaluations, 1e-5) are strict: Martens' CURVES run sits on the mean-image plateau for
/// tens of iterations while its objective still falls by about 1e-4 per 10 iterations, and
/// the rule must not end a run there. `relativeTolerance = 0` turns the rule off.
public struct ConvergenceRule: Codable, Sendable, Equatable {
    public var window: Int
    public var relativeTolerance: Double

    public init(window: Int = 20, relativeTolerance: Double = 1e-5) {
        self.window = window; self.relativeTolerance = relativeTolerance
    }

    public var isEnabled: Bool { relativeTolerance > 0 }

    /// True when the last `window + 1` objective values (oldest first) show too little progress.
    public func isSatisfied(byObjectives f: [Double]) -> Bool {
        guard isEnabled, f.count > window, let last = f.last, last.isFinite else { return false }
        let earlier = f[f.count - 1 - window]
        guard earlier.isFinite else { return false }
        return earlier - last < relativeTolerance * abs(last)
    }
}

/// Which error picks the best iteration: the validation error when the run has validation
/// data, else the test error (the paper's own protocol names no validation set), else the
/// training error.
public enum SelectionCriterion: String, Codable, Sendable {
    case validation, test, train
}

/// Watches a run's records and decides when to stop: the best iteration so far, the
/// evaluations since then (early stopping), and the objective's recent progress (convergence).
///
/// It is a pure function of the records it has seen, so a resumed run rebuilds it from the
/// metrics kept up to its checkpoint and decides exactly as an uninterrupted run would.
public struct RunMonitor: Sendable {
    public let criterion: SelectionCriterion
    /// Stop after this many evaluations without a new best (nil: never).
    public let patience: Int?
    public let convergence: ConvergenceRule
    /// The record with the lowest `criterion` error so far (the earliest of ties).
    public private(set) var best: MetricsRecord?
    /// Evaluations of the criterion since the best one.
    public private(set) var evaluationsSinceBest = 0
    private var objectives: [Double] = []

    public init(criterion: SelectionCriterion, patience: Int?, convergence: ConvergenceRule) {
        self.criterion = criterion; self.patience = patience; self.convergence = convergence
    }

    /// The criterion's error in `record`, when it was measured there.
    public func selectionError(_ record: MetricsRecord) -> Double? {
        let e: Double?
        switch criterion {
        case .validation: e = record.validationError
        case .test: e = record.testError
        case .train: e = record.trainError.isNaN ? nil : record.trainError
        }
        return e.flatMap { $0.isNaN ? nil : $0 }
    }

    /// What the monitor makes of one more record.
    public struct Observation: Equatable, Sendable {
        /// The record is the new best: save its parameters.
        public var isNewBest: Bool
        /// Stop here, and why (early stopping or convergence).
        public var stop: RunStopReason?
    }

    public mutating func observe(_ record: MetricsRecord) -> Observation {
        var observation = Observation(isNewBest: false, stop: nil)
        if let e = selectionError(record) {
            if let b = best.flatMap(selectionError), !(e < b) {
                evaluationsSinceBest += 1
            } else {
                best = record
                evaluationsSinceBest = 0
                observation.isNewBest = true
            }
            if let p = patience, evaluationsSinceBest >= p { observation.stop = .earlyStopping }
        }
        if !record.trainLoss.isNaN {
            objectives.append(record.trainLoss)
            if objectives.count > convergence.window + 1 { objectives.removeFirst(objectives.count - convergence.window - 1) }
            if observation.stop == nil && convergence.isSatisfied(byObjectives: objectives) { observation.stop = .converged }
        }
        return observation
    }
}
