import LinearAlgebra

/// The scalar types networks run in: Float (training) and Double (numerical checks).
public typealias NetworkScalar = ElementwiseScalar

/// The loss matched to an output activation, so that the Gauss-Newton matrix is the
/// "canonical" one (paper section 5; Schraudolph 2002): the loss Hessian with respect to
/// the output pre-activations z_L is positive semi-definite and cheap to apply.
public enum OutputLoss: String, Codable, Sendable, CaseIterable {
    /// Logistic outputs: -sum_j [t_j log y_j + (1 - t_j) log(1 - y_j)], computed stably from
    /// z_L as softplus(z) - t z. dL/dz = y - t, H_L = diag(y (1 - y)).
    case binaryCrossEntropy = "binary-cross-entropy"
    /// Linear outputs: sum_j (y_j - t_j)^2 WITHOUT the usual 1/2, the convention of Martens'
    /// code ("the doubled version"). dL/dz = 2 (y - t), H_L = 2 I, so G = 2 J'J.
    case squaredError = "squared-error"
    /// Softmax outputs: -sum_j t_j log y_j, target rows summing to 1. dL/dz = y - t,
    /// H_L = diag(y) - y y'.
    case multinomialCrossEntropy = "multinomial-cross-entropy"

    /// The loss matched to an output activation, or nil when the activation has none.
    public static func matched(to activation: Activation) -> OutputLoss? {
        switch activation {
        case .logistic: return .binaryCrossEntropy
        case .linear: return .squaredError
        case .softmax: return .multinomialCrossEntropy
        case .tanh, .relu: return nil
        }
    }
}

/// Why a network description was rejected.
public enum NetworkError: Error, Equatable, CustomStringConvertible {
    case tooFewLayers(Int)
    case nonPositiveLayerSize([Int])
    case activationCount(expected: Int, got: Int)
    case softmaxInHiddenLayer(Int)
    case unmatchedOutputActivation(Activation)
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .tooFewLayers(let n): return "a network needs at least an input and an output layer, got \(n) layer size(s)"
        case .nonPositiveLayerSize(let s): return "layer sizes must be positive: \(s)"
        case .activationCount(let e, let g): return "expected \(e) activations (one per non-input layer), got \(g)"
        case .softmaxInHiddenLayer(let l): return "softmax is only allowed on the output layer (found on layer \(l))"
        case .unmatchedOutputActivation(let a): return "output activation '\(a.rawValue)' has no matched loss (use logistic, linear or softmax)"
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        }
    }
}

/// A feed-forward network's shape: unit counts n_0 (inputs) ... n_L (outputs) and the
/// activation of each of the L non-input layers. The loss is the one matched to the output
/// activation.
public struct NetworkArchitecture: Codable, Sendable, Equatable {
    /// n_0 ... n_L.
    public let layerSizes: [Int]
    /// f_1 ... f_L (activations[l - 1] belongs to layer l).
    public let activations: [Activation]

    public init(layerSizes: [Int], activations: [Activation]) throws {
        guard layerSizes.count >= 2 else { throw NetworkError.tooFewLayers(layerSizes.count) }
        guard layerSizes.allSatisfy({ $0 > 0 }) else { throw NetworkError.nonPositiveLayerSize(layerSizes) }
        guard activations.count == layerSizes.count - 1 else {
            throw NetworkError.activationCount(expected: layerSizes.count - 1, got: activations.count)
        }
        for (i, a) in activations.dropLast().enumerated() where a == .softmax { throw NetworkError.softmaxInHiddenLayer(i + 1) }
        guard OutputLoss.matched(to: activations.last!) != nil else { throw NetworkError.unmatchedOutputActivation(activations.last!) }
        self.layerSizes = layerSizes
        self.activations = activations
    }

    /// The number of weight layers L.
    public var layerCount: Int { activations.count }
    public var inputSize: Int { layerSizes[0] }
    public var outputSize: Int { layerSizes[layerSizes.count - 1] }
    /// The loss matched to the output activation.
    public var loss: OutputLoss { OutputLoss.matched(to: activations[activations.count - 1])! }

    /// Throws unless `inputs` (cases x n_0) and `targets` (cases x n_L) fit this network.
    public func checkData<Scalar>(inputs: Matrix<Scalar>, targets: Matrix<Scalar>) throws {
        guard inputs.columns == inputSize, targets.columns == outputSize, inputs.rows == targets.rows else {
            throw NetworkError.shapeMismatch("inputs \(inputs.rows)x\(inputs.columns) and targets \(targets.rows)x\(targets.columns) for a \(inputSize)->\(outputSize) network")
        }
    }
    /// The parameter layout this architecture implies.
    public var layout: ParameterLayout { ParameterLayout(layerSizes: layerSizes) }

    /// Flops (2mnk per m x k by k x n product) of the gemms of one objective + gradient pass
    /// over `cases` cases: L forward products, L weight-gradient products and L - 1 backward
    /// products (no delta is propagated into the inputs); with `squaredGradient`, also the L
    /// products (a_{l-1}^2)'(delta_l^2) of the squared-gradient diagonal (the preconditioner's
    /// pass).
    public func gradientFlops(cases: Int, squaredGradient: Bool = false) -> Double {
        var f = 0.0
        for l in 1...layerCount {
            let p = 2.0 * Double(cases) * Double(layerSizes[l - 1]) * Double(layerSizes[l])
            f += (l == 1 ? 2 * p : 3 * p) + (squaredGradient ? p : 0)
        }
        return f
    }
    /// Flops of the gemms of one Gauss-Newton product on `cases` cases after linearization:
    /// R-forward a_{l-1} V_l (every layer) and Ra_{l-1} W_l (l > 1), backward a_{l-1}' Rdelta_l
    /// (every layer) and Rdelta_l W_l' (l > 1).
    public func gaussNewtonProductFlops(cases: Int) -> Double {
        var f = 0.0
        for l in 1...layerCount {
            let p = 2.0 * Double(cases) * Double(layerSizes[l - 1]) * Double(layerSizes[l])
            f += l == 1 ? 2 * p : 4 * p
        }
        return f
    }
}

/// Where each layer's weights and biases sit in the flat parameter vector.
///
/// Order: W_1, b_1, W_2, b_2, ..., W_L, b_L. W_l is n_{l-1} x n_l row-major (fan-in x
/// fan-out), so activations (cases x n_{l-1}) times W_l gives (cases x n_l); b_l has n_l
/// entries. Gradients, curvature products, CG vectors and preconditioners use this layout.
public struct ParameterLayout: Sendable, Equatable, Codable {
    /// One layer's block.
    public struct Layer: Sendable, Equatable, Codable {
        public let fanIn: Int
        public let fanOut: Int
        /// Offset of W (fanIn x fanOut, row-major).
        public let weightOffset: Int
        /// Offset of b (fanOut).
        public let biasOffset: Int
        public var weightCount: Int { fanIn * fanOut }
        public var weightRange: Range<Int> { weightOffset..<(weightOffset + weightCount) }
        public var biasRange: Range<Int> { biasOffset..<(biasOffset + fanOut) }
    }

    public let layers: [Layer]
    public let parameterCount: Int

    public init(layerSizes: [Int]) {
        var offset = 0
        var layers: [Layer] = []
        for l in 1..<layerSizes.count {
            let (i, o) = (layerSizes[l - 1], layerSizes[l])
            layers.append(Layer(fanIn: i, fanOut: o, weightOffset: offset, biasOffset: offset + i * o))
            offset += i * o + o
        }
        self.layers = layers
        parameterCount = offset
    }

    /// Layer l's weights W_l (1-based as in the paper: fanIn x fanOut) as a view into `base`.
    @inline(__always) func weights<S: BLASScalar>(_ l: Int, _ base: UnsafePointer<S>) -> MatrixView<S> {
        let layer = layers[l - 1]
        return MatrixView(base: base + layer.weightOffset, rows: layer.fanIn, columns: layer.fanOut)
    }
}
