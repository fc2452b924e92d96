import LinearAlgebra

/// Which curvature matrix B a curvature product multiplies by (paper sections 3, 4.2, 6).
public enum CurvatureKind: String, Codable, Sendable, CaseIterable {
    /// Gauss-Newton G = J' H_L J (Schraudolph 2002); positive semi-definite. The paper's choice.
    case gaussNewton = "gauss-newton"
    /// Exact Hessian H (Pearlmutter 1994).
    case hessian
    /// Empirical Fisher F = mean over cases of g_i g_i'.
    case fisher
    /// Hessian by central differences of gradients (section 3's identity), for comparison.
    case finiteDifference = "finite-difference"
}

/// Which training cases a computation uses.
///
/// `cases` indexes the objective's training set (0..<caseCount) over all shards: every
/// process of a data-parallel run passes the same global indices, and each one works on
/// those it holds (see `ShardReducer`). A curvature mini-batch is a contiguous slice of a
/// fixed permutation (section 4.3), so it is handed over as indices.
public enum CaseSelection: Sendable, Equatable {
    case all
    case indices([Int])

    /// The number of cases selected from a set of `total`.
    public func count(of total: Int) -> Int {
        switch self {
        case .all: return total
        case .indices(let i): return i.count
        }
    }
}

/// The seam through which every sum over training cases passes.
///
/// An objective computes its partial sums over the cases it holds locally (objective value,
/// gradient, curvature products, squared-gradient diagonal), then calls `sumAcrossShards` on
/// the partial result before dividing by the global case count. In one process the sums are
/// already complete, so `LocalShards` is the identity. A data-parallel backend (MPI) provides
/// an all-reduce here and shards the data; the optimizer does not change.
///
/// Shards are numbered 0..<shardCount and hold consecutive blocks of the global training
/// cases in shard order (shard 0 the first block). Every shard must call the same sums in the
/// same order, and every shard must receive bit-identical results: the optimizer runs
/// replicated on each shard, and identical inputs keep the replicas in step.
public protocol ShardReducer: Sendable {
    /// This process's shard, 0..<shardCount.
    var shardIndex: Int { get }
    /// The number of shards taking part in every sum.
    var shardCount: Int { get }
    /// Sums `values` elementwise across shards, in place.
    func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>)
    func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>)
}

extension ShardReducer {
    public var shardIndex: Int { 0 }
    public var shardCount: Int { 1 }

    /// Where this shard's cases start among all shards' cases, and how many cases all shards
    /// hold together, from each shard's local count (one small sum across shards).
    public func caseOffsetAndTotal(localCount: Int) -> (offset: Int, total: Int) {
        var counts = [Double](repeating: 0, count: max(shardCount, 1))
        counts[shardIndex] = Double(localCount)
        counts.withUnsafeMutableBufferPointer { sumAcrossShards($0) }
        let offset = counts[..<shardIndex].reduce(0, +)
        return (Int(offset.rounded()), Int(counts.reduce(0, +).rounded()))
    }

    /// Sums one Double across shards.
    public func sumAcrossShards(_ value: Double) -> Double {
        var v = value
        withUnsafeMutablePointer(to: &v) { sumAcrossShards(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return v
    }
    /// Sums a vector across shards, in place.
    public func sumAcrossShards<S: BLASScalar>(_ vector: inout Vector<S>) {
        vector.elements.withUnsafeMutableBufferPointer { sumAcrossShards(generic: $0) }
    }
    /// Sums a buffer of either scalar type across shards, in place.
    public func sumAcrossShards<S: BLASScalar>(generic p: UnsafeMutableBufferPointer<S>) {
        if let f = p as? UnsafeMutableBufferPointer<Float> { sumAcrossShards(f) }
        else if let d = p as? UnsafeMutableBufferPointer<Double> { sumAcrossShards(d) }
        else { preconditionFailure("unsupported scalar \(S.self)") }
    }
}

/// The single-process reducer: every case is local, sums are already complete.
public struct LocalShards: ShardReducer {
    public init() {}
    public func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) {}
    public func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) {}
}

/// Errors an objective reports to the optimizer.
public enum ObjectiveError: Error, Equatable, CustomStringConvertible {
    case unsupportedCurvature(CurvatureKind, supported: [CurvatureKind])
    case nonFiniteGradient
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .unsupportedCurvature(let k, let s):
            return "curvature '\(k.rawValue)' is not supported by this objective (supported: \(s.map(\.rawValue).joined(separator: ", ")))"
        case .nonFiniteGradient: return "the gradient is not finite"
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        }
    }
}

/// What the full-data pass returns.
public struct Evaluation<Scalar: BLASScalar>: Sendable {
    /// f(theta): mean per-case loss plus regularization, in Double.
    public var value: Double
    /// Gradient of f, same layout as the parameters.
    public var gradient: Vector<Scalar>
    /// Mean over cases of the elementwise squared per-case loss gradients (the diagonal of
    /// the empirical Fisher, without the regularizer); `nil` unless requested. Section 4.7.
    public var squaredGradientDiagonal: Vector<Scalar>?

    public init(value: Double, gradient: Vector<Scalar>, squaredGradientDiagonal: Vector<Scalar>? = nil) {
        self.value = value; self.gradient = gradient; self.squaredGradientDiagonal = squaredGradientDiagonal
    }
}

/// A curvature matrix B at a fixed point and on a fixed set of cases, available only
/// through products B v. Linearization work (the forward pass on the curvature mini-batch)
/// is done once when the operator is made and reused by every product (section 4.3).
///
/// The product includes the regularizer's curvature (weight cost times v) and averages over
/// the operator's cases; it never includes the damping lambda, which the optimizer adds.
public protocol CurvatureOperator<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar
    /// The matrix this operator multiplies by.
    var kind: CurvatureKind { get }
    /// result = B v. `result` has the parameters' length; it is overwritten.
    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>)
    /// The objective on the operator's cases at its linearization point, when linearizing
    /// computed it (the forward pass does): the optimizer then needs no pass of its own for
    /// f(theta) on the curvature mini-batch. Nil when unknown.
    var valueAtLinearizationPoint: Double? { get }
}

extension CurvatureOperator {
    public var valueAtLinearizationPoint: Double? { nil }
}

extension HFObjective {
    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool,
                         reusing spent: consuming Evaluation<Scalar>?) throws -> Evaluation<Scalar> {
        try evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal)
    }
}

/// A problem Hessian-free optimization can minimize: anything that gives an objective, a
/// gradient and curvature-matrix-vector products (paper section 8). The optimizer knows
/// nothing else about it.
public protocol HFObjective<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar

    /// Number of parameters N.
    var parameterCount: Int { get }
    /// Number of training cases D (1 for a problem without data).
    var caseCount: Int { get }
    /// The curvature matrices `curvature(_:at:cases:)` can build.
    var supportedCurvatures: [CurvatureKind] { get }

    /// Objective and gradient on the full training set; with `squaredGradientDiagonal`,
    /// also the mean per-case squared gradient, in the same pass.
    func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar>

    /// The same, free to write into the vectors of `spent`, an evaluation the caller is done
    /// with: the HF step hands back the previous iteration's, so an iteration need not
    /// allocate its gradient and g^2 (for MNIST 2 x 11 MB). The default ignores `spent`.
    func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool,
                  reusing spent: consuming Evaluation<Scalar>?) throws -> Evaluation<Scalar>

    /// The objective (mean per-case loss plus regularization) on the selected cases only.
    func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double

    /// Linearizes at `parameters` on `cases` and returns the operator B v.
    func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar>
}
