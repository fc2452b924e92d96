import LinearAlgebra
import NeuralNetworks

/// Greedy RBM pre-training of a symmetric auto-encoder (Hinton & Salakhutdinov 2006), unrolled
/// into the network's flat parameter vector: the PT of PT+NCG and PT+HF in Table 2.
enum Pretraining {
    /// Trains the encoder's RBM stack on `data` and returns the unrolled parameters.
    ///
    /// Unit types follow the architecture: a linear output layer means real-valued data and a
    /// Gaussian visible layer (FACES), a logistic one binary units; a linear code layer means
    /// linear hidden units with unit-variance Gaussian noise (H&S `rbmhidlinear.m`). Other
    /// hidden layers must be logistic, as RBM units are.
    static func pretrain(_ architecture: NetworkArchitecture, specification: PretrainingSpecification,
                         data: Matrix<Float>, events: (TrainingEvent) -> Void) throws -> Vector<Float> {
        let sizes = architecture.layerSizes
        let half = architecture.layerCount / 2
        let encoder = Array(sizes[0...half])
        let acts = architecture.activations
        let inputUnits: RBMVisibleUnits
        switch acts.last! {
        case .logistic: inputUnits = .binary
        case .linear: inputUnits = .gaussian
        default: throw ExperimentError.invalid("RBM pre-training needs a logistic or linear output layer, not \(acts.last!.rawValue)")
        }
        let codeUnits: RBMHiddenUnits
        switch acts[half - 1] {
        case .linear: codeUnits = .linearGaussian
        case .logistic: codeUnits = .binary
        default: throw ExperimentError.invalid("RBM pre-training needs a linear or logistic code layer, not \(acts[half - 1].rawValue)")
        }
        for (l, a) in acts.enumerated() where l != half - 1 && l != acts.count - 1 && a != .logistic {
            throw ExperimentError.invalid("RBM pre-training needs logistic hidden layers; layer \(l + 1) is \(a.rawValue)")
        }
        var generator = SeededGenerator(seed: specification.seed)
        let machines = pretrainStack(data: data, layerSizes: encoder, inputUnits: inputUnits, codeUnits: codeUnits,
                                     configuration: specification.rbm, generator: &generator) { record in
            events(.message(String(format: "pre-training RBM %d/%d, epoch %d/%d: reconstruction error %.4f (%.1f s)",
                                   record.layer + 1, record.layers, record.epoch, record.epochs,
                                   record.reconstructionError, record.seconds)))
        }
        let layers = unrolledAutoencoderLayers(machines)
        let layout = architecture.layout
        precondition(layers.count == layout.layers.count, "unrolled \(layers.count) layers for a \(layout.layers.count)-layer network")
        var theta = Vector<Float>(zeros: layout.parameterCount)
        for (p, slot) in zip(layers, layout.layers) {
            precondition(p.weights.rows == slot.fanIn && p.weights.columns == slot.fanOut && p.bias.count == slot.fanOut)
            theta.elements.replaceSubrange(slot.weightRange, with: p.weights.storage[0..<(slot.fanIn * slot.fanOut)])
            theta.elements.replaceSubrange(slot.biasRange, with: p.bias)
        }
        return theta
    }
}
