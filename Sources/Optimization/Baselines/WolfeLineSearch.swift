/// How a line search ended.
public enum LineSearchTermination: String, Codable, Sendable, Equatable, CaseIterable {
    /// The returned step satisfies the strong Wolfe conditions.
    case wolfeSatisfied = "wolfe-satisfied"
    /// The evaluation budget ran out; the best point found (lower than the start) is returned.
    case evaluationLimitWithDecrease = "evaluation-limit-with-decrease"
    /// The evaluation budget ran out without finding a lower point; the step is zero.
    case evaluationLimitWithoutDecrease = "evaluation-limit-without-decrease"
    /// The direction is not a descent direction (slope >= 0); nothing was evaluated.
    case notDescentDirection = "not-descent-direction"

    /// True when the returned step moved the parameters.
    public var moved: Bool { self == .wolfeSatisfied || self == .evaluationLimitWithDecrease }
}

/// One trial point of a line search along a direction s from x: phi(alpha) = f(x + alpha s).
public struct LineSearchPoint<Payload> {
    /// phi(alpha) = f(x + alpha s).
    public var value: Double
    /// phi'(alpha) = grad f(x + alpha s) . s.
    public var slope: Double
    /// What the caller needs back for the accepted point (typically the gradient).
    public var payload: Payload

    public init(value: Double, slope: Double, payload: Payload) {
        self.value = value; self.slope = slope; self.payload = payload
    }
}

/// The outcome of a line search: a value type with the reason it stopped.
public struct LineSearchResult<Payload> {
    /// The step alpha along the direction (0 when nothing better was found).
    public var step: Double
    /// phi(step).
    public var value: Double
    /// phi'(step).
    public var slope: Double
    /// The payload of the returned point; nil exactly when `step` is 0.
    public var payload: Payload?
    /// Number of trial points evaluated.
    public var evaluations: Int
    public var termination: LineSearchTermination
}

/// A bracketing line search with cubic and quadratic interpolation that looks for a step
/// satisfying the strong Wolfe conditions
///
///     phi(alpha) <= phi(0) + rho * alpha * phi'(0)        (sufficient decrease)
///     |phi'(alpha)| <= sigma * |phi'(0)|                  (curvature)
///
/// It follows the line search of C. E. Rasmussen's `minimize.m` (1999-2006), which Hinton &
/// Salakhutdinov (2006) used for their nonlinear-CG fine-tuning: extrapolate with cubic fits
/// (at most `extrapolationLimit` times the current step, at least `interpolationLimit` of the
/// last interval beyond it) until the slope is no longer steeply negative or the sufficient
/// decrease fails, then interpolate inside the bracket (quadratic when the upper end is above
/// phi(0), cubic otherwise), never closer than `interpolationLimit` of the bracket to either
/// end. Non-finite trial values are bisected back towards the last good point during
/// extrapolation and treated as "too far" during interpolation. When the budget runs out the
/// best point seen is returned, as `minimize.m` does.
///
/// Deviation from `minimize.m`: during extrapolation the previous two trial points, not the
/// origin and the last point, define the cubic, so the lower end of the bracket is the last
/// point known to satisfy both sufficient decrease and a steep slope.
public struct WolfeLineSearch: Codable, Sendable, Equatable {
    /// rho: sufficient-decrease constant. `minimize.m`: RHO = SIG / 2 = 0.05.
    public var sufficientDecrease: Double
    /// sigma: curvature constant of the strong Wolfe condition. `minimize.m`: SIG = 0.1, a
    /// nearly exact line search as conjugate gradients want (Nocedal & Wright 2006, 5.2);
    /// quasi-Newton methods use 0.9.
    public var curvature: Double
    /// Do not place a trial point closer than this fraction of the interval to an end.
    /// `minimize.m`: INT = 0.1.
    public var interpolationLimit: Double
    /// Extrapolate at most this many times the current step. `minimize.m`: EXT = 3.0.
    public var extrapolationLimit: Double
    /// Maximum trial points per line search. `minimize.m`: MAX = 20.
    public var maximumEvaluations: Int

    /// `minimize.m`'s constants (for nonlinear conjugate gradients).
    public init(sufficientDecrease: Double = 0.05, curvature: Double = 0.1, interpolationLimit: Double = 0.1,
                extrapolationLimit: Double = 3.0, maximumEvaluations: Int = 20) {
        self.sufficientDecrease = sufficientDecrease; self.curvature = curvature
        self.interpolationLimit = interpolationLimit; self.extrapolationLimit = extrapolationLimit
        self.maximumEvaluations = maximumEvaluations
    }

    /// Quasi-Newton constants: rho = 1e-4, sigma = 0.9 (Nocedal & Wright 2006, section 3.1),
    /// with `minimize.m`'s bracketing constants.
    public static var quasiNewton: WolfeLineSearch { WolfeLineSearch(sufficientDecrease: 1e-4, curvature: 0.9) }

    /// Checks the constants: 0 < rho < sigma < 1, 0 < interpolationLimit < 0.5,
    /// extrapolationLimit > 1, at least 1 evaluation.
    public func validate() {
        precondition(sufficientDecrease > 0 && sufficientDecrease < curvature && curvature < 1,
                     "line search needs 0 < rho < sigma < 1, got rho \(sufficientDecrease), sigma \(curvature)")
        precondition(interpolationLimit > 0 && interpolationLimit < 0.5, "interpolationLimit must be in (0, 0.5)")
        precondition(extrapolationLimit > 1, "extrapolationLimit must exceed 1")
        precondition(maximumEvaluations >= 1, "maximumEvaluations must be at least 1")
    }

    /// True when (step, value, slope) satisfies both strong Wolfe conditions for a search that
    /// started at (value0, slope0).
    public func satisfiesWolfe(step: Double, value: Double, slope: Double, value0: Double, slope0: Double) -> Bool {
        value <= value0 + sufficientDecrease * step * slope0 && abs(slope) <= -curvature * slope0
    }

    /// Searches phi from alpha = 0, where phi(0) = `value0` and phi'(0) = `slope0`, starting
    /// with the trial step `initialStep` (> 0). `evaluate(alpha)` returns phi and phi' at alpha.
    public func search<Payload>(value0: Double, slope0: Double, initialStep: Double,
                                evaluate: (Double) throws -> LineSearchPoint<Payload>) throws -> LineSearchResult<Payload> {
        validate()
        precondition(value0.isFinite && slope0.isFinite, "line search needs a finite start, got \(value0), \(slope0)")
        guard slope0 < 0 else {
            return LineSearchResult(step: 0, value: value0, slope: slope0, payload: nil, evaluations: 0,
                                    termination: .notDescentDirection)
        }
        precondition(initialStep > 0 && initialStep.isFinite, "initial step must be positive and finite, got \(initialStep)")
        let (f0, d0) = (value0, slope0)
        let (rho, sig, int, ext) = (sufficientDecrease, curvature, interpolationLimit, extrapolationLimit)
        var remaining = maximumEvaluations
        var evaluations = 0
        // Best point seen: returned when the budget runs out (minimize.m's X0, F0).
        var bestStep = 0.0, bestValue = f0, bestSlope = d0
        var bestPayload: Payload? = nil

        // One trial; non-finite results read as +infinity so every comparison says "too far".
        func trial(_ alpha: Double) throws -> (value: Double, slope: Double, payload: Payload, finite: Bool) {
            remaining -= 1; evaluations += 1
            let p = try evaluate(alpha)
            let finite = p.value.isFinite && p.slope.isFinite
            let v = finite ? p.value : .infinity, s = finite ? p.slope : .infinity
            if finite && v < bestValue { bestStep = alpha; bestValue = v; bestSlope = s; bestPayload = p.payload }
            return (v, s, p.payload, finite)
        }
        func decreaseFails(_ x: Double, _ f: Double) -> Bool { f > f0 + x * rho * d0 }

        var x1 = 0.0, f1 = f0, d1 = d0
        var x2 = 0.0, f2 = f0, d2 = d0
        var x3 = initialStep, f3 = f0, d3 = d0
        var p3: Payload? = nil

        // Extrapolation.
        while true {
            var success = false
            while !success && remaining > 0 {
                let t = try trial(x3)
                (f3, d3, p3) = (t.value, t.slope, t.payload)
                // minimize.m: on a numerical failure, bisect back towards the last good point.
                if t.finite { success = true } else { x3 = (x2 + x3) / 2 }
            }
            if d3 > sig * d0 || decreaseFails(x3, f3) || remaining == 0 { break }
            (x1, f1, d1) = (x2, f2, d2)
            (x2, f2, d2) = (x3, f3, d3)
            // Cubic extrapolation through (x1, f1, d1) and (x2, f2, d2).
            let a = 6 * (f1 - f2) + 3 * (d2 + d1) * (x2 - x1)
            let b = 3 * (f2 - f1) - (2 * d1 + d2) * (x2 - x1)
            var x = x1 - d1 * (x2 - x1) * (x2 - x1) / (b + (b * b - a * d1 * (x2 - x1)).squareRoot())
            if !x.isFinite || x < 0 || x > x2 * ext {
                x = x2 * ext
            } else if x < x2 + int * (x2 - x1) {
                x = x2 + int * (x2 - x1)
            }
            x3 = x
        }

        // Interpolation inside the bracket [x2, x4].
        var x4 = x3, f4 = f3, d4 = d3
        while (abs(d3) > -sig * d0 || decreaseFails(x3, f3)) && remaining > 0 {
            if d3 > 0 || decreaseFails(x3, f3) {
                (x4, f4, d4) = (x3, f3, d3)
            } else {
                (x2, f2, d2) = (x3, f3, d3)
            }
            var x: Double
            if f4 > f0 {
                // Quadratic through (x2, f2, d2) and f4.
                x = x2 - (0.5 * d2 * (x4 - x2) * (x4 - x2)) / (f4 - f2 - d2 * (x4 - x2))
            } else {
                // Cubic through (x2, f2, d2) and (x4, f4, d4).
                let a = 6 * (f2 - f4) / (x4 - x2) + 3 * (d4 + d2)
                let b = 3 * (f4 - f2) - (2 * d2 + d4) * (x4 - x2)
                x = x2 + ((b * b - a * d2 * (x4 - x2) * (x4 - x2)).squareRoot() - b) / a
            }
            if !x.isFinite { x = (x2 + x4) / 2 }
            // Keep away from both ends of the bracket (works whichever end is larger).
            let lo = min(x2 + int * (x4 - x2), x4 - int * (x4 - x2))
            let hi = max(x2 + int * (x4 - x2), x4 - int * (x4 - x2))
            x3 = Swift.min(Swift.max(x, lo), hi)
            let t = try trial(x3)
            (f3, d3, p3) = (t.value, t.slope, t.payload)
        }

        if let p = p3, satisfiesWolfe(step: x3, value: f3, slope: d3, value0: f0, slope0: d0) {
            return LineSearchResult(step: x3, value: f3, slope: d3, payload: p, evaluations: evaluations,
                                    termination: .wolfeSatisfied)
        }
        if bestPayload != nil {
            return LineSearchResult(step: bestStep, value: bestValue, slope: bestSlope, payload: bestPayload,
                                    evaluations: evaluations, termination: .evaluationLimitWithDecrease)
        }
        return LineSearchResult(step: 0, value: f0, slope: d0, payload: nil, evaluations: evaluations,
                                termination: .evaluationLimitWithoutDecrease)
    }
}
