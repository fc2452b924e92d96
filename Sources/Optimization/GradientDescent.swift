import LinearAlgebra

/// Why gradient descent stopped.
public enum GradientDescentStop: String, Codable, Sendable, Equatable {
    /// The budget of gradient evaluations is spent.
    case evaluationBudget = "evaluation-budget"
    case targetObjective = "target-objective"
    case gradientTolerance = "gradient-tolerance"
    /// The objective or gradient became NaN or infinite: the step size is too large.
    case diverged
}

/// The result of a gradient-descent run.
public struct GradientDescentResult<Scalar: BLASScalar>: Sendable {
    public var parameters: Vector<Scalar>
    /// Steps taken.
    public var iterations: Int
    /// Full-data objective-and-gradient evaluations (iterations + 1).
    public var gradientEvaluations: Int
    /// f at `parameters` (+infinity when the run diverged).
    public var finalObjective: Double
    public var finalGradientNorm: Double
    public var stepSize: Double
    public var stop: GradientDescentStop
}

/// Plain full-batch gradient descent with a fixed step, theta <- theta - eta * grad f(theta):
/// the curvature-blind baseline of sections 1 and 2 (Figure 1).
public enum GradientDescent {
    /// Runs from `start` until `maximumGradientEvaluations` evaluations are spent, the target
    /// objective or gradient tolerance is reached, or the iterates diverge.
    public static func minimize<Scalar: BLASScalar, O: HFObjective>(_ objective: O, from start: Vector<Scalar>, stepSize: Double,
                                                maximumGradientEvaluations: Int,
                                                targetObjective: Double? = nil,
                                                gradientTolerance: Double? = nil) throws -> GradientDescentResult<Scalar>
    where O.Scalar == Scalar {
        precondition(stepSize > 0 && stepSize.isFinite, "step size must be positive and finite (got \(stepSize))")
        precondition(maximumGradientEvaluations >= 1, "need at least one gradient evaluation")
        guard start.count == objective.parameterCount else {
            throw HessianFreeError.parameterCountMismatch(expected: objective.parameterCount, actual: start.count)
        }
        var theta = start
        var evaluations = 0
        var iterations = 0
        let eta = Scalar(-stepSize)
        while true {
            let e = try objective.evaluate(at: theta, squaredGradientDiagonal: false)
            evaluations += 1
            let gNorm = e.gradient.norm
            func result(_ stop: GradientDescentStop) -> GradientDescentResult<Scalar> {
                GradientDescentResult(parameters: theta, iterations: iterations, gradientEvaluations: evaluations,
                                      finalObjective: stop == .diverged ? .infinity : e.value,
                                      finalGradientNorm: gNorm, stepSize: stepSize, stop: stop)
            }
            if !e.value.isFinite || !gNorm.isFinite { return result(.diverged) }
            if let t = targetObjective, e.value <= t { return result(.targetObjective) }
            if let t = gradientTolerance, gNorm <= t { return result(.gradientTolerance) }
            if evaluations >= maximumGradientEvaluations { return result(.evaluationBudget) }
            theta.add(e.gradient, scaledBy: eta)
            iterations += 1
        }
    }

    /// Runs every step size in `stepSizes` with the same budget and returns the run with the
    /// lowest final objective (diverged runs count as +infinity; ties go to the earlier step).
    public static func bestFixedStep<Scalar: BLASScalar, O: HFObjective>(_ objective: O, from start: Vector<Scalar>, stepSizes: [Double],
                                                     maximumGradientEvaluations: Int,
                                                     targetObjective: Double? = nil) throws -> GradientDescentResult<Scalar>
    where O.Scalar == Scalar {
        precondition(!stepSizes.isEmpty, "need at least one step size")
        var best: GradientDescentResult<Scalar>? = nil
        for eta in stepSizes {
            let r = try minimize(objective, from: start, stepSize: eta, maximumGradientEvaluations: maximumGradientEvaluations,
                                 targetObjective: targetObjective)
            if best == nil || r.finalObjective < best!.finalObjective { best = r }
        }
        return best!
    }
}
