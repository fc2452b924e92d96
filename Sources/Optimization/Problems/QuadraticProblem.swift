import LinearAlgebra

/// The convex quadratic f(x) = 1/2 x'Ax - b'x with A symmetric positive definite, given
/// explicitly: the minimizer is A^{-1} b, the Hessian is A everywhere. One "case" (no data).
///
/// Curvatures: `.hessian` and `.gaussNewton` are both A (writing A = LL', f is
/// 1/2 |L'x - L^{-1}b|^2 + const, a least-squares problem whose Gauss-Newton matrix is LL' = A);
/// `.fisher` is g g' at the linearization point (the single case's empirical Fisher);
/// `.finiteDifference` is A v by central differences of gradients.
/// The squared-gradient diagonal is g * g elementwise.
public final class QuadraticProblem<Scalar: BLASScalar>: HFObjective {
    /// A, n x n, row-major, symmetric.
    public let matrix: Matrix<Scalar>
    /// b, n.
    public let linearTerm: Vector<Scalar>

    public var parameterCount: Int { linearTerm.count }
    public var caseCount: Int { 1 }
    public var supportedCurvatures: [CurvatureKind] { [.gaussNewton, .hessian, .fisher, .finiteDifference] }

    /// - Precondition: A is n x n and symmetric, b has n elements.
    public init(matrix: Matrix<Scalar>, linearTerm: Vector<Scalar>) {
        precondition(matrix.rows == matrix.columns && matrix.rows == linearTerm.count,
                     "quadratic: A is \(matrix.rows)x\(matrix.columns), b has \(linearTerm.count) elements")
        for i in 0..<matrix.rows { for j in 0..<i {
            precondition(matrix[i, j] == matrix[j, i], "quadratic: A is not symmetric at (\(i), \(j))")
        } }
        self.matrix = matrix
        self.linearTerm = linearTerm
    }

    /// A random n x n SPD matrix A = Q diag(lambda) Q' with Q a random orthogonal matrix and
    /// eigenvalues spaced geometrically from 1 to `conditionNumber` (so cond(A) is exactly that
    /// up to rounding), and b with standard normal elements. Deterministic in `seed`.
    public static func random(dimension n: Int, conditionNumber: Double, seed: UInt64) -> QuadraticProblem {
        precondition(n >= 1 && conditionNumber >= 1, "need n >= 1 and condition number >= 1")
        let eig = (0..<n).map { n == 1 ? 1 : powDouble(conditionNumber, Double($0) / Double(n - 1)) }
        return random(eigenvalues: eig, seed: seed)
    }

    /// A random SPD matrix A = Q diag(eigenvalues) Q' (Q random orthogonal) and b ~ N(0, I).
    public static func random(eigenvalues eig: [Double], seed: UInt64) -> QuadraticProblem {
        let n = eig.count
        precondition(n >= 1 && eig.allSatisfy { $0 > 0 && $0.isFinite }, "eigenvalues must be positive and finite")
        var g = SeededGenerator(seed: seed)
        // Q: Gram-Schmidt (twice, for orthogonality to rounding) on a Gaussian matrix, in Double.
        var q = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for k in 0..<n {
            var v = (0..<n).map { _ in g.normal() }
            for _ in 0..<2 {
                for j in 0..<k {
                    let d = zip(v, q[j]).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<n { v[i] -= d * q[j][i] }
                }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            q[k] = v.map { $0 / norm }
        }
        var a = Matrix<Scalar>(rows: n, columns: n)
        for i in 0..<n { for j in 0...i {
            var s = 0.0
            for k in 0..<n { s += q[k][i] * eig[k] * q[k][j] }
            a[i, j] = Scalar(s); a[j, i] = Scalar(s)
        } }
        let b = Vector<Scalar>((0..<n).map { _ in Scalar(g.normal()) })
        return QuadraticProblem(matrix: a, linearTerm: b)
    }

    /// result = A x.
    func multiply(_ x: Vector<Scalar>, into result: inout Vector<Scalar>) {
        let n = parameterCount
        precondition(x.count == n && result.count == n, "quadratic: vector lengths \(x.count), \(result.count), expected \(n)")
        matrix.storage.withUnsafeBufferPointer { a in
            x.elements.withUnsafeBufferPointer { xp in
                result.elements.withUnsafeMutableBufferPointer { rp in
                    Scalar.gemv(.none, m: n, n: n, alpha: 1, a: a.baseAddress!, lda: n,
                                x: xp.baseAddress!, incx: 1, beta: 0, y: rp.baseAddress!, incy: 1)
                }
            }
        }
    }

    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        guard parameters.count == parameterCount else {
            throw ObjectiveError.shapeMismatch("quadratic: \(parameters.count) parameters, expected \(parameterCount)")
        }
        var ax = Vector<Scalar>(zeros: parameterCount)
        multiply(parameters, into: &ax)
        let value = 0.5 * parameters.dot(ax) - linearTerm.dot(parameters)
        var g = ax
        g.add(linearTerm, scaledBy: -1)
        var g2: Vector<Scalar>? = nil
        if squaredGradientDiagonal { var s = g; s.multiply(elementwiseBy: g); g2 = s }
        return Evaluation(value: value, gradient: g, squaredGradientDiagonal: g2)
    }

    public func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double {
        precondition(parameters.count == parameterCount, "quadratic: \(parameters.count) parameters, expected \(parameterCount)")
        var ax = Vector<Scalar>(zeros: parameterCount)
        multiply(parameters, into: &ax)
        return 0.5 * parameters.dot(ax) - linearTerm.dot(parameters)
    }

    public func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        switch kind {
        case .gaussNewton, .hessian:
            return ClosureCurvature(kind: kind) { [self] v, out in self.multiply(v, into: &out) }
        case .fisher:
            let g = try evaluate(at: parameters, squaredGradientDiagonal: false).gradient
            return OuterProductCurvature(kind: .fisher, vector: g)
        case .finiteDifference:
            return FiniteDifferenceCurvature(objective: self, parameters: parameters)
        }
    }
}

/// A curvature operator given by a closure (for problems whose product needs no linearization).
final class ClosureCurvature<Scalar: BLASScalar>: CurvatureOperator {
    let kind: CurvatureKind
    let body: (Vector<Scalar>, inout Vector<Scalar>) -> Void
    init(kind: CurvatureKind, body: @escaping (Vector<Scalar>, inout Vector<Scalar>) -> Void) {
        self.kind = kind; self.body = body
    }
    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) { body(v, &result) }
}

/// B v = u (u'v): the empirical Fisher of a single case with gradient u.
final class OuterProductCurvature<Scalar: BLASScalar>: CurvatureOperator {
    let kind: CurvatureKind
    let vector: Vector<Scalar>
    init(kind: CurvatureKind, vector: Vector<Scalar>) { self.kind = kind; self.vector = vector }
    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) {
        precondition(v.count == vector.count && result.count == vector.count, "Fisher product: length mismatch")
        let d = vector.dot(v)
        result.assign(vector)
        result.scale(by: Scalar(d))
    }
}
