import LinearAlgebra
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The visible units of an RBM (Hinton & Salakhutdinov 2006, supporting material).
public enum RBMVisibleUnits: String, Codable, Sendable, CaseIterable {
    /// Logistic binary units; real values in [0, 1] are used as probabilities (MNIST, CURVES,
    /// and every layer above the first).
    case binary
    /// Linear units with unit-variance Gaussian noise, for real-valued data with zero mean and
    /// unit variance per pixel (FACES, first layer). Energy term (v_i - b_i)^2 / 2.
    case gaussian
}

/// The hidden units of an RBM.
public enum RBMHiddenUnits: String, Codable, Sendable, CaseIterable {
    /// Logistic binary units.
    case binary
    /// Linear units with unit-variance Gaussian noise: the code layer (H&S `rbmhidlinear.m`).
    /// Their mean is the total input; CD samples add N(0, 1) noise to it.
    case linearGaussian = "linear-gaussian"

    /// The deterministic output an auto-encoder layer uses: logistic or linear.
    public var activation: Activation { self == .binary ? .logistic : .linear }
}

/// A restricted Boltzmann machine: `visibleCount` visible and `hiddenCount` hidden units, the
/// weights W stored `visibleCount x hiddenCount` row-major (H&S's `vishid`), a visible bias b
/// and a hidden bias c. For binary units the energy is E(v, h) = -b'v - c'h - v'W h.
///
/// Matrices of cases are `cases x units`, row-major, as everywhere in the project.
public struct RestrictedBoltzmannMachine<Scalar: NetworkScalar>: Sendable, Equatable {
    /// W: visibleCount x hiddenCount.
    public var weights: Matrix<Scalar>
    /// b: visibleCount.
    public var visibleBias: [Scalar]
    /// c: hiddenCount.
    public var hiddenBias: [Scalar]
    public var visibleUnits: RBMVisibleUnits
    public var hiddenUnits: RBMHiddenUnits

    public var visibleCount: Int { weights.rows }
    public var hiddenCount: Int { weights.columns }

    /// An RBM with the given parameters; shapes are checked.
    public init(weights: Matrix<Scalar>, visibleBias: [Scalar], hiddenBias: [Scalar],
                visibleUnits: RBMVisibleUnits = .binary, hiddenUnits: RBMHiddenUnits = .binary) {
        precondition(visibleBias.count == weights.rows, "visible bias has \(visibleBias.count) entries, W has \(weights.rows) rows")
        precondition(hiddenBias.count == weights.columns, "hidden bias has \(hiddenBias.count) entries, W has \(weights.columns) columns")
        self.weights = weights; self.visibleBias = visibleBias; self.hiddenBias = hiddenBias
        self.visibleUnits = visibleUnits; self.hiddenUnits = hiddenUnits
    }

    /// H&S's initialization (`rbm.m`, `rbmhidlinear.m`): W_ij ~ N(0, standardDeviation^2)
    /// (their `0.1*randn`), both biases zero.
    public init(visibleCount: Int, hiddenCount: Int, visibleUnits: RBMVisibleUnits = .binary,
                hiddenUnits: RBMHiddenUnits = .binary, weightStandardDeviation: Double = 0.1,
                generator: inout SeededGenerator) {
        precondition(visibleCount > 0 && hiddenCount > 0, "an RBM needs units, got \(visibleCount) x \(hiddenCount)")
        precondition(weightStandardDeviation >= 0, "negative weight standard deviation")
        var w = Matrix<Scalar>(rows: visibleCount, columns: hiddenCount)
        for i in 0..<w.storage.count { w.storage[i] = Scalar(weightStandardDeviation * generator.normal()) }
        self.init(weights: w, visibleBias: [Scalar](repeating: 0, count: visibleCount),
                  hiddenBias: [Scalar](repeating: 0, count: hiddenCount), visibleUnits: visibleUnits, hiddenUnits: hiddenUnits)
    }

    // MARK: Conditionals (mean-field passes)

    /// The hidden means given visible data (`cases x visibleCount`) into `hidden`
    /// (`cases x hiddenCount`): logistic(v W + c) for binary units, v W + c for linear ones.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func hiddenMeans(_ visible: MatrixView<Scalar>, into hidden: MutableMatrixView<Scalar>) {
        precondition(visible.columns == visibleCount, "visible data has \(visible.columns) columns, RBM has \(visibleCount) visible units")
        precondition(hidden.rows == visible.rows && hidden.columns == hiddenCount,
                     "hidden buffer is \(hidden.rows)x\(hidden.columns), expected \(visible.rows)x\(hiddenCount)")
        weights.withView { w in gemm(visible, .none, w, .none, into: hidden) }
        hiddenBias.withUnsafeBufferPointer { c in addRowVector(c, to: hidden) }
        if hiddenUnits == .binary { applyLogistic(hidden) }
    }

    /// The visible means given hidden states (`cases x hiddenCount`) into `visible`
    /// (`cases x visibleCount`): logistic(h W' + b) for binary units, h W' + b for Gaussian.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func visibleMeans(_ hidden: MatrixView<Scalar>, into visible: MutableMatrixView<Scalar>) {
        precondition(hidden.columns == hiddenCount, "hidden states have \(hidden.columns) columns, RBM has \(hiddenCount) hidden units")
        precondition(visible.rows == hidden.rows && visible.columns == visibleCount,
                     "visible buffer is \(visible.rows)x\(visible.columns), expected \(hidden.rows)x\(visibleCount)")
        weights.withView { w in gemm(hidden, .none, w, .transposed, into: visible) }
        visibleBias.withUnsafeBufferPointer { b in addRowVector(b, to: visible) }
        if visibleUnits == .binary { applyLogistic(visible) }
    }

    /// Hidden means for a whole data set (`cases x visibleCount` -> `cases x hiddenCount`):
    /// the data the next RBM of a stack is trained on. Works in blocks of `blockRows` cases.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func hiddenMeans(_ data: Matrix<Scalar>, blockRows: Int = 1000) -> Matrix<Scalar> {
        precondition(blockRows > 0)
        var out = Matrix<Scalar>(rows: data.rows, columns: hiddenCount)
        data.withView { v in
            out.withMutableView { h in
                var start = 0
                while start < data.rows {
                    let end = min(start + blockRows, data.rows)
                    hiddenMeans(v.rows(start..<end), into: h.rows(start..<end))
                    start = end
                }
            }
        }
        return out
    }

    /// Mean over cases of the squared reconstruction error sum_i (v_i - v'_i)^2 of the
    /// deterministic up-down pass v -> hidden means -> visible means.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func reconstructionError(_ data: Matrix<Scalar>) -> Double {
        precondition(data.columns == visibleCount && data.rows > 0, "data must be cases x \(visibleCount), got \(data.rows)x\(data.columns)")
        let hidden = hiddenMeans(data)
        var reconstruction = Matrix<Scalar>(rows: data.rows, columns: visibleCount)
        hidden.withView { h in reconstruction.withMutableView { r in visibleMeans(h, into: r) } }
        var sum = 0.0
        for i in 0..<(data.rows * data.columns) {
            let d = Double(data.storage[i]) - Double(reconstruction.storage[i])
            sum += d * d
        }
        return sum / Double(data.rows)
    }

    // MARK: Exact quantities for tiny binary RBMs

    /// The free energy F(v) = -b'v - sum_j log(1 + exp(c_j + v'W_j)) of a binary-binary RBM,
    /// so that p(v) = exp(-F(v)) / Z. In Double.
    public func freeEnergy(_ v: [Scalar]) -> Double {
        precondition(visibleUnits == .binary && hiddenUnits == .binary, "free energy is implemented for binary-binary RBMs")
        precondition(v.count == visibleCount)
        var f = 0.0
        for i in 0..<visibleCount { f -= Double(visibleBias[i]) * Double(v[i]) }
        for j in 0..<hiddenCount {
            var x = Double(hiddenBias[j])
            for i in 0..<visibleCount { x += Double(v[i]) * Double(weights[i, j]) }
            f -= softplus(x)
        }
        return f
    }

    /// log Z by enumerating all 2^visibleCount visible vectors (log-sum-exp of -F(v)).
    /// For tests and diagnostics only: `visibleCount` must be at most 20.
    public func exactLogPartitionFunction() -> Double {
        precondition(visibleCount <= 20, "enumeration over 2^\(visibleCount) states is not supported (at most 20 visible units)")
        let n = visibleCount
        var terms: [Double] = []
        terms.reserveCapacity(1 << n)
        for code in 0..<(1 << n) {
            let v = (0..<n).map { Scalar((code >> $0) & 1) }
            terms.append(-freeEnergy(v))
        }
        let m = terms.max()!
        return m + log(terms.reduce(0) { $0 + exp($1 - m) })
    }

    /// The exact mean log-likelihood (1/N) sum_n log p(v_n) of binary data (`cases x
    /// visibleCount`, entries 0 or 1) under a binary-binary RBM, by enumeration.
    public func exactLogLikelihood(_ data: Matrix<Scalar>) -> Double {
        precondition(data.columns == visibleCount && data.rows > 0, "data must be cases x \(visibleCount)")
        let logZ = exactLogPartitionFunction()
        var sum = 0.0
        for r in 0..<data.rows {
            let v = (0..<visibleCount).map { data[r, $0] }
            sum += -freeEnergy(v) - logZ
        }
        return sum / Double(data.rows)
    }
}

extension RestrictedBoltzmannMachine: Codable {
    private enum CodingKeys: String, CodingKey {
        case visibleCount = "visible_count", hiddenCount = "hidden_count", weights, visibleBias = "visible_bias"
        case hiddenBias = "hidden_bias", visibleUnits = "visible_units", hiddenUnits = "hidden_units"
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let v = try c.decode(Int.self, forKey: .visibleCount), h = try c.decode(Int.self, forKey: .hiddenCount)
        let w = try c.decode([Scalar].self, forKey: .weights)
        let b = try c.decode([Scalar].self, forKey: .visibleBias), hb = try c.decode([Scalar].self, forKey: .hiddenBias)
        guard v > 0, h > 0, w.count == v * h, b.count == v, hb.count == h else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                debugDescription: "RBM shapes disagree: \(v)x\(h) with \(w.count) weights, \(b.count) and \(hb.count) biases"))
        }
        self.init(weights: Matrix(rows: v, columns: h, elements: w), visibleBias: b, hiddenBias: hb,
                  visibleUnits: try c.decode(RBMVisibleUnits.self, forKey: .visibleUnits),
                  hiddenUnits: try c.decode(RBMHiddenUnits.self, forKey: .hiddenUnits))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(visibleCount, forKey: .visibleCount)
        try c.encode(hiddenCount, forKey: .hiddenCount)
        try c.encode(Array(weights.storage[0..<(visibleCount * hiddenCount)]), forKey: .weights)
        try c.encode(visibleBias, forKey: .visibleBias)
        try c.encode(hiddenBias, forKey: .hiddenBias)
        try c.encode(visibleUnits, forKey: .visibleUnits)
        try c.encode(hiddenUnits, forKey: .hiddenUnits)
    }
}
