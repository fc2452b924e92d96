import LinearAlgebra

/// Greedy layer-wise pre-training of a stack of RBMs (Hinton & Salakhutdinov 2006, Fig. 1):
/// each RBM is trained with CD-1 on the hidden means of the one below (probabilities for
/// binary units), starting from the data.
///
/// - Parameters:
///   - data: training cases, `cases x layerSizes[0]`, row-major.
///   - layerSizes: the encoder's widths from the input to the code, e.g. [784, 1000, 500,
///     250, 30] for MNIST (Martens 2010, Table 1); at least two entries.
///   - inputUnits: the first RBM's visible units: `.binary` for data in [0, 1], `.gaussian`
///     for standardized real-valued data (FACES).
///   - codeUnits: the last RBM's hidden units: `.linearGaussian` as in H&S (`rbmhidlinear.m`).
///     All other units are logistic binary.
///   - configuration: CD-1 constants (H&S's defaults).
///   - generator: drives initialization, batch order and sampling; one child seed per layer.
///   - progress: called after every epoch of every layer.
/// - Returns: the RBMs from the data upwards; RBM l is `layerSizes[l] x layerSizes[l+1]`.
public func pretrainStack<Scalar: BLASScalar>(
    data: Matrix<Scalar>, layerSizes: [Int], inputUnits: RBMVisibleUnits = .binary,
    codeUnits: RBMHiddenUnits = .linearGaussian,
    configuration: RBMTrainingConfiguration = RBMTrainingConfiguration(),
    generator: inout SeededGenerator, progress: (RBMEpochRecord) -> Void = { _ in }
) -> [RestrictedBoltzmannMachine<Scalar>] {
    precondition(layerSizes.count >= 2, "a stack needs at least an input and a code size, got \(layerSizes)")
    precondition(layerSizes.allSatisfy { $0 > 0 }, "layer sizes must be positive, got \(layerSizes)")
    precondition(data.columns == layerSizes[0], "data has \(data.columns) columns, the first layer size is \(layerSizes[0])")
    precondition(data.rows > 0, "no training cases")
    let trainer = ContrastiveDivergence<Scalar>(configuration: configuration)
    let layers = layerSizes.count - 1
    var machines: [RestrictedBoltzmannMachine<Scalar>] = []
    var input = data
    for l in 0..<layers {
        var state = RBMTrainingState<Scalar>(
            visibleCount: layerSizes[l], hiddenCount: layerSizes[l + 1],
            visibleUnits: l == 0 ? inputUnits : .binary, hiddenUnits: l == layers - 1 ? codeUnits : .binary,
            configuration: configuration, generator: SeededGenerator(seed: generator.next()))
        for _ in 0..<configuration.epochs {
            progress(trainer.trainEpoch(&state, data: input, layer: l, layers: layers))
        }
        machines.append(state.machine)
        if l < layers - 1 { input = state.machine.hiddenMeans(input) }
    }
    return machines
}

/// One layer of an unrolled auto-encoder: y = activation(x W + bias) with W `fanIn x fanOut`
/// row-major, the layout the network's flat parameter vector uses for each layer.
public struct AutoencoderLayerParameters<Scalar: BLASScalar>: Sendable, Equatable {
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
public func unrolledAutoencoderLayers<Scalar: BLASScalar>(_ machines: [RestrictedBoltzmannMachine<Scalar>]) -> [AutoencoderLayerParameters<Scalar>] {
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
