import LinearAlgebra

/// Greedy layer-wise pre-training of a stack of RBMs (Hinton & Salakhutdinov 2006, Fig. 1):
/// each RBM is trained with CD-1 on the hidden means of the one below (probabilities for
/// binary units), starting from the data.
///
/// A step is one epoch of one RBM, so that hours of pre-training can be checkpointed and
/// resumed: `State` is `Codable`, and the input of the layer being trained is recomputed
/// from the data and the finished RBMs (`layerInput(_:data:)`).
public struct LayerwisePretraining<Scalar: NetworkScalar>: Sendable {
    /// The encoder's widths from the input to the code, e.g. [784, 1000, 500, 250, 30] for
    /// MNIST (Martens 2010, Table 1); at least two entries.
    public let layerSizes: [Int]
    /// The first RBM's visible units: `.binary` for data in [0, 1], `.gaussian` for
    /// standardized real-valued data (FACES).
    public let inputUnits: RBMVisibleUnits
    /// The last RBM's hidden units: `.linearGaussian` as in H&S (`rbmhidlinear.m`). All other
    /// units are logistic binary.
    public let codeUnits: RBMHiddenUnits
    public let configuration: RBMTrainingConfiguration

    public struct State: Codable, Sendable, Equatable {
        /// Finished RBMs, from the data upwards.
        public var trained: [RestrictedBoltzmannMachine<Scalar>]
        /// The RBM being trained (nil between layers).
        public var current: RBMTrainingState<Scalar>?
        /// Source of one seed per layer.
        public var generator: SeededGenerator
    }

    public init(layerSizes: [Int], inputUnits: RBMVisibleUnits = .binary, codeUnits: RBMHiddenUnits = .linearGaussian,
                configuration: RBMTrainingConfiguration = RBMTrainingConfiguration()) {
        precondition(layerSizes.count >= 2, "a stack needs at least an input and a code size, got \(layerSizes)")
        precondition(layerSizes.allSatisfy { $0 > 0 }, "layer sizes must be positive, got \(layerSizes)")
        configuration.validate()
        self.layerSizes = layerSizes; self.inputUnits = inputUnits; self.codeUnits = codeUnits
        self.configuration = configuration
    }

    /// Number of RBMs in the stack.
    public var layerCount: Int { layerSizes.count - 1 }

    public func makeState(seed: UInt64) -> State {
        State(trained: [], current: nil, generator: SeededGenerator(seed: seed))
    }

    /// True when every RBM is trained.
    public func isComplete(_ state: State) -> Bool { state.trained.count == layerCount }

    /// The input of the next layer to train: `data` (`cases x layerSizes[0]`) passed up
    /// through the finished RBMs.
    public func layerInput(_ state: State, data: Matrix<Scalar>) -> Matrix<Scalar> {
        precondition(data.columns == layerSizes[0], "data has \(data.columns) columns, the first layer size is \(layerSizes[0])")
        var input = data
        for m in state.trained { input = m.hiddenMeans(input) }
        return input
    }

    /// Trains the next layer for one epoch on `input` (= `layerInput(state, data:)`), and
    /// finishes the layer after its last epoch; after that the caller must recompute the
    /// input. Returns the epoch's record, or nil when a layer was finished without training
    /// (`configuration.epochs` = 0).
    public func step(_ state: inout State, input: Matrix<Scalar>) -> RBMEpochRecord? {
        precondition(!isComplete(state), "the stack is already trained")
        let l = state.trained.count
        precondition(input.columns == layerSizes[l] && input.rows > 0,
                     "layer \(l) input must be cases x \(layerSizes[l]), got \(input.rows)x\(input.columns)")
        var current = state.current ?? RBMTrainingState<Scalar>(
            visibleCount: layerSizes[l], hiddenCount: layerSizes[l + 1],
            visibleUnits: l == 0 ? inputUnits : .binary, hiddenUnits: l == layerCount - 1 ? codeUnits : .binary,
            configuration: configuration, generator: SeededGenerator(seed: state.generator.next()))
        var record: RBMEpochRecord? = nil
        if current.epoch < configuration.epochs {
            record = ContrastiveDivergence<Scalar>(configuration: configuration)
                .trainEpoch(&current, data: input, layer: l, layers: layerCount)
        }
        if current.epoch >= configuration.epochs {
            state.trained.append(current.machine)
            state.current = nil
        } else {
            state.current = current
        }
        return record
    }
}

/// Greedy layer-wise pre-training start to finish (see `LayerwisePretraining`).
///
/// - Parameters:
///   - data: training cases, `cases x layerSizes[0]`, row-major.
///   - layerSizes, inputUnits, codeUnits: see `LayerwisePretraining`.
///   - configuration: CD-1 constants (H&S's defaults).
///   - generator: one draw seeds the stack; initialization, batch order and sampling follow.
///   - progress: called after every epoch of every layer.
/// - Returns: the RBMs from the data upwards; RBM l is `layerSizes[l] x layerSizes[l+1]`.
public func pretrainStack<Scalar: NetworkScalar>(
    data: Matrix<Scalar>, layerSizes: [Int], inputUnits: RBMVisibleUnits = .binary,
    codeUnits: RBMHiddenUnits = .linearGaussian,
    configuration: RBMTrainingConfiguration = RBMTrainingConfiguration(),
    generator: inout SeededGenerator, progress: (RBMEpochRecord) -> Void = { _ in }
) -> [RestrictedBoltzmannMachine<Scalar>] {
    let pretraining = LayerwisePretraining<Scalar>(layerSizes: layerSizes, inputUnits: inputUnits,
                                                   codeUnits: codeUnits, configuration: configuration)
    precondition(data.rows > 0, "no training cases")
    var state = pretraining.makeState(seed: generator.next())
    var input = pretraining.layerInput(state, data: data)
    while !pretraining.isComplete(state) {
        let finished = state.trained.count
        if let record = pretraining.step(&state, input: input) { progress(record) }
        if state.trained.count > finished && !pretraining.isComplete(state) {
            // Only the newest RBM is new: propagate one layer instead of from the data.
            input = state.trained.last!.hiddenMeans(input)
        }
    }
    return state.trained
}

/// One layer of an unrolled auto-encoder: y = activation(x W + bias) with W `fanIn x fanOut`
/// row-major, the layout the network's flat parameter vector uses for each layer.
public struct AutoencoderLayerParameters<Scalar: NetworkScalar>: Sendable, Equatable {
    /// fanIn x fanOut.
    public var weights: Matrix<Scalar>
    /// fanOut.
    public var bias: [Scalar]
    /// The layer's nonlinearity implied by the RBM unit type it comes from.
    public var activation: Activation
}

/// Unrolls a stack of RBMs into a deep auto-encoder (H&S 2006, Fig. 1 "Unrolling"):
/// encoder layers W_1 ... W_L with the hidden biases, then decoder layers W_L' ... W_1' with
/// the visible biases, in order from input to output (2L layers).
///
/// Activations: encoder layers use the hidden units' (logistic, linear for a linear-Gaussian
/// code); decoder layers the visible units' (logistic for binary, linear for Gaussian), so a
/// binary-input stack ends in a logistic output layer.
public func unrolledAutoencoderLayers<Scalar: NetworkScalar>(_ machines: [RestrictedBoltzmannMachine<Scalar>]) -> [AutoencoderLayerParameters<Scalar>] {
    precondition(!machines.isEmpty, "no RBMs to unroll")
    for l in 1..<machines.count {
        precondition(machines[l - 1].hiddenCount == machines[l].visibleCount,
                     "RBM \(l - 1) has \(machines[l - 1].hiddenCount) hidden units, RBM \(l) \(machines[l].visibleCount) visible")
    }
    var layers: [AutoencoderLayerParameters<Scalar>] = machines.map {
        AutoencoderLayerParameters(weights: $0.weights, bias: $0.hiddenBias, activation: $0.hiddenUnits.activation)
    }
    for m in machines.reversed() {
        var transposed = Matrix<Scalar>(rows: m.hiddenCount, columns: m.visibleCount)
        for i in 0..<m.visibleCount { for j in 0..<m.hiddenCount { transposed[j, i] = m.weights[i, j] } }
        layers.append(AutoencoderLayerParameters(weights: transposed, bias: m.visibleBias,
                                                 activation: m.visibleUnits == .binary ? .logistic : .linear))
    }
    return layers
}
