import LinearAlgebra

/// The chained Rosenbrock function in N >= 2 dimensions,
///
///     f(x) = sum_{i=0}^{N-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,
///
/// minimized at x = (1, ..., 1) with f = 0: the textbook long curved valley of pathological
/// curvature (paper sections 1 and 2). One "case" (no data).
///
/// Curvatures, all exact and matrix-free (O(N) per product):
/// - `.hessian`: H is tridiagonal, H_ii = 1200 x_i^2 - 400 x_{i+1} + 2 (i < N-1) + 200 (i > 0),
///   H_{i,i+1} = -400 x_i.
/// - `.gaussNewton`: f = sum r^2 over the residuals r_{2i} = 10 (x_{i+1} - x_i^2),
///   r_{2i+1} = 1 - x_i, so G = 2 J'J (positive semi-definite; equal to H at the minimizer,
///   where the residuals vanish).
/// - `.fisher`: g g' (the single case's empirical Fisher).
/// - `.finiteDifference`: H v by central differences of gradients (`FiniteDifferenceCurvature`).
/// The squared-gradient diagonal is g * g.
public final class RosenbrockProblem<Scalar: BLASScalar>: HFObjective {
    public let dimension: Int
    public var parameterCount: Int { dimension }
    public var caseCount: Int { 1 }
    public var supportedCurvatures: [CurvatureKind] { [.gaussNewton, .hessian, .fisher, .finiteDifference] }

    public init(dimension: Int) {
        precondition(dimension >= 2, "Rosenbrock needs at least 2 dimensions (got \(dimension))")
        self.dimension = dimension
    }

    /// The standard start (-1.2, 1, -1.2, 1, ...).
    public var standardStart: Vector<Scalar> {
        Vector((0..<dimension).map { $0 % 2 == 0 ? Scalar(-1.2) : 1 })
    }

    private func check(_ x: Vector<Scalar>) throws {
        guard x.count == dimension else {
            throw ObjectiveError.shapeMismatch("Rosenbrock: \(x.count) parameters, expected \(dimension)")
        }
    }

    static func value(_ x: [Scalar]) -> Double {
        var f = 0.0
        for i in 0..<(x.count - 1) {
            let a = Double(x[i]), b = Double(x[i + 1])
            let r1 = b - a * a, r2 = 1 - a
            f += 100 * r1 * r1 + r2 * r2
        }
        return f
    }

    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        try check(parameters)
        let x = parameters.elements
        var g = [Double](repeating: 0, count: dimension)
        for i in 0..<(dimension - 1) {
            let a = Double(x[i]), b = Double(x[i + 1])
            let r1 = b - a * a
            g[i] += -400 * a * r1 - 2 * (1 - a)
            g[i + 1] += 200 * r1
        }
        let gradient = Vector<Scalar>(g.map { Scalar($0) })
        let g2 = squaredGradientDiagonal ? Vector<Scalar>(g.map { Scalar($0 * $0) }) : nil
        return Evaluation(value: Self.value(x), gradient: gradient, squaredGradientDiagonal: g2)
    }

    public func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double {
        precondition(parameters.count == dimension, "Rosenbrock: \(parameters.count) parameters, expected \(dimension)")
        return Self.value(parameters.elements)
    }

    public func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        try check(parameters)
        let x = parameters.elements.map { Double($0) }
        let n = dimension
        switch kind {
        case .hessian:
            return ClosureCurvature(kind: .hessian) { v, out in
                precondition(v.count == n && out.count == n, "Rosenbrock product: length mismatch")
                v.elements.withUnsafeBufferPointer { vp in
                    out.elements.withUnsafeMutableBufferPointer { op in
                        for i in 0..<n {
                            var d = 0.0, s = 0.0
                            if i < n - 1 {
                                d += 1200 * x[i] * x[i] - 400 * x[i + 1] + 2
                                s += -400 * x[i] * Double(vp[i + 1])
                            }
                            if i > 0 {
                                d += 200
                                s += -400 * x[i - 1] * Double(vp[i - 1])
                            }
                            op[i] = Scalar(d * Double(vp[i]) + s)
                        }
                    }
                }
            }
        case .gaussNewton:
            return ClosureCurvature(kind: .gaussNewton) { v, out in
                precondition(v.count == n && out.count == n, "Rosenbrock product: length mismatch")
                v.elements.withUnsafeBufferPointer { vp in
                    out.elements.withUnsafeMutableBufferPointer { op in
                        for i in 0..<n { op[i] = 0 }
                        for i in 0..<(n - 1) {
                            // J v for the two residuals of term i, then 2 J' (J v).
                            let jv1 = -20 * x[i] * Double(vp[i]) + 10 * Double(vp[i + 1])
                            let jv2 = -Double(vp[i])
                            op[i] += Scalar(2 * (-20 * x[i] * jv1 - jv2))
                            op[i + 1] += Scalar(2 * 10 * jv1)
                        }
                    }
                }
            }
        case .fisher:
            return OuterProductCurvature(kind: .fisher, vector: try evaluate(at: parameters, squaredGradientDiagonal: false).gradient)
        case .finiteDifference:
            return FiniteDifferenceCurvature(objective: self, parameters: parameters)
        }
    }
}
