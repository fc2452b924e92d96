import LinearAlgebra

/// Hessian products by central differences of full-data gradients (section 3's identity),
///
///     H v ~ (grad f(theta + eps v) - grad f(theta - eps v)) / (2 eps),
///     eps = sqrt(machine epsilon) * (1 + |theta|) / |v|,
///
/// for comparison with the exact products. Each product costs two gradient evaluations on the
/// full data and allocates their results, so it suits small problems without mini-batches (the
/// shipped Rosenbrock and quadratic problems offer it as `.finiteDifference`).
public final class FiniteDifferenceCurvature<O: HFObjective>: CurvatureOperator {
    public typealias Scalar = O.Scalar
    public var kind: CurvatureKind { .finiteDifference }
    let objective: O
    let parameters: Vector<Scalar>
    private var shifted: Vector<Scalar>
    private let parameterNorm: Double

    public init(objective: O, parameters: Vector<Scalar>) {
        precondition(parameters.count == objective.parameterCount,
                     "finite differences: \(parameters.count) parameters, expected \(objective.parameterCount)")
        self.objective = objective
        self.parameters = parameters
        shifted = parameters
        parameterNorm = parameters.norm
    }

    public func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) {
        precondition(v.count == parameters.count && result.count == parameters.count, "finite differences: length mismatch")
        let vNorm = v.norm
        if vNorm == 0 { result.setZero(); return }
        let eps = Double(Scalar.ulpOfOne).squareRoot() * (1 + parameterNorm) / vNorm
        // The objective's own errors (shape) cannot occur here: the lengths were checked above.
        shifted.assign(parameters); shifted.add(v, scaledBy: Scalar(eps))
        let plus = (try? objective.evaluate(at: shifted, squaredGradientDiagonal: false).gradient)
        shifted.assign(parameters); shifted.add(v, scaledBy: Scalar(-eps))
        let minus = (try? objective.evaluate(at: shifted, squaredGradientDiagonal: false).gradient)
        guard let plus, let minus else {
            result.assign(v); result.scale(by: .nan)   // reported by CG as non-finite curvature
            return
        }
        result.assign(plus)
        result.add(minus, scaledBy: -1)
        result.scale(by: Scalar(1 / (2 * eps)))
    }
}
