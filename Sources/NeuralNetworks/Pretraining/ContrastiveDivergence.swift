import LinearAlgebra

/// CD-1 training constants. Defaults are those of Hinton & Salakhutdinov (2006), from their
/// code (`rbm.m`, `rbmhidlinear.m`, `mnistdeepauto.m`) and supporting online material.
public struct RBMTrainingConfiguration: Codable, Sendable, Equatable {
    /// Cases per mini-batch. H&S `makebatches.m`: 100.
    public var batchSize: Int
    /// epsilon for weights, visible and hidden biases of RBMs with binary units.
    /// H&S `rbm.m`: epsilonw = epsilonvb = epsilonhb = 0.1.
    public var learningRate: Double
    /// epsilon for an RBM with linear units: the linear-hidden code layer (H&S
    /// `rbmhidlinear.m`: 0.001) and, our choice, the Gaussian-visible first layer on
    /// real-valued data (Hinton 2010, "A practical guide to training RBMs", section 13.2:
    /// one or two orders of magnitude smaller than for binary units).
    public var linearUnitLearningRate: Double
    /// L2 weight cost on W (not on biases). H&S: weightcost = 0.0002.
    public var weightCost: Double
    /// Momentum for the first `initialMomentumEpochs` epochs. H&S: initialmomentum = 0.5.
    public var initialMomentum: Double
    /// Momentum afterwards. H&S: finalmomentum = 0.9.
    public var finalMomentum: Double
    /// H&S switch at `epoch > 5` (1-based): 5 epochs at the initial momentum.
    public var initialMomentumEpochs: Int
    /// Passes through the data per RBM. H&S's paper trains each RBM for 50 epochs (their
    /// demo `mnistdeepauto.m` uses 10); the CLI's `--pretrain-epochs` overrides this.
    public var epochs: Int
    /// W_ij ~ N(0, s^2) at initialization. H&S: `0.1*randn`, s = 0.1; biases start at 0.
    public var weightStandardDeviation: Double

    public init(batchSize: Int = 100, learningRate: Double = 0.1, linearUnitLearningRate: Double = 0.001,
                weightCost: Double = 0.0002, initialMomentum: Double = 0.5, finalMomentum: Double = 0.9,
                initialMomentumEpochs: Int = 5, epochs: Int = 50, weightStandardDeviation: Double = 0.1) {
        self.batchSize = batchSize; self.learningRate = learningRate; self.linearUnitLearningRate = linearUnitLearningRate
        self.weightCost = weightCost; self.initialMomentum = initialMomentum; self.finalMomentum = finalMomentum
        self.initialMomentumEpochs = initialMomentumEpochs; self.epochs = epochs
        self.weightStandardDeviation = weightStandardDeviation
    }

    public func validate() {
        precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
        precondition(learningRate > 0 && linearUnitLearningRate > 0, "learning rates must be positive")
        precondition(weightCost >= 0, "weight cost must be non-negative, got \(weightCost)")
        precondition((0..<1).contains(initialMomentum) && (0..<1).contains(finalMomentum), "momentum must be in [0, 1)")
        precondition(initialMomentumEpochs >= 0 && epochs >= 0, "epoch counts must be non-negative")
        precondition(weightStandardDeviation >= 0, "weight standard deviation must be non-negative")
    }

    /// The learning rate for an RBM with these unit types.
    public func learningRate(visibleUnits: RBMVisibleUnits, hiddenUnits: RBMHiddenUnits) -> Double {
        visibleUnits == .binary && hiddenUnits == .binary ? learningRate : linearUnitLearningRate
    }

    /// The momentum for `epoch` (0-based).
    public func momentum(epoch: Int) -> Double { epoch < initialMomentumEpochs ? initialMomentum : finalMomentum }
}

/// What one CD-1 epoch reports.
public struct RBMEpochRecord: Codable, Sendable, Equatable {
    /// Index of the RBM in its stack (0 for the one on the data), and the stack's size.
    public var layer: Int
    public var layers: Int
    /// Epochs completed for this RBM, this one included.
    public var epoch: Int
    public var epochs: Int
    /// Mean over cases of sum_i (v_i - v'_i)^2 between each batch's data and its CD-1
    /// reconstruction, during the epoch (H&S's `errsum` divided by the number of cases).
    public var reconstructionError: Double
    public var learningRate: Double
    public var momentum: Double
    public var seconds: Double
}

/// One RBM's CD-1 training state: the machine, the momentum increments and the generator,
/// `Codable` so that pre-training can be checkpointed between epochs.
public struct RBMTrainingState<Scalar: NetworkScalar>: Codable, Sendable, Equatable {
    public var machine: RestrictedBoltzmannMachine<Scalar>
    /// Momentum increments for W (row-major visibleCount x hiddenCount), b and c
    /// (H&S's vishidinc, visbiasinc, hidbiasinc).
    public var weightIncrement: [Scalar]
    public var visibleBiasIncrement: [Scalar]
    public var hiddenBiasIncrement: [Scalar]
    /// Epochs completed.
    public var epoch: Int
    public var generator: SeededGenerator

    /// A fresh state: H&S initialization drawn from `generator`, zero increments.
    public init(visibleCount: Int, hiddenCount: Int, visibleUnits: RBMVisibleUnits, hiddenUnits: RBMHiddenUnits,
                configuration: RBMTrainingConfiguration, generator: SeededGenerator) {
        var g = generator
        machine = RestrictedBoltzmannMachine(visibleCount: visibleCount, hiddenCount: hiddenCount,
                                             visibleUnits: visibleUnits, hiddenUnits: hiddenUnits,
                                             weightStandardDeviation: configuration.weightStandardDeviation, generator: &g)
        weightIncrement = [Scalar](repeating: 0, count: visibleCount * hiddenCount)
        visibleBiasIncrement = [Scalar](repeating: 0, count: visibleCount)
        hiddenBiasIncrement = [Scalar](repeating: 0, count: hiddenCount)
        epoch = 0
        self.generator = g
    }
}

/// Contrastive divergence with one Gibbs step (CD-1; Hinton 2002) exactly as H&S's `rbm.m`
/// and `rbmhidlinear.m` run it, per mini-batch of B cases:
///
///     positive:  h+ = E[h | v] (probabilities, or the linear means); sample h ~ p(h | v)
///                (binary: h+ > u, u ~ U(0,1); linear: h+ + N(0, 1))
///     negative:  v- = E[v | h] (probabilities, or the Gaussian means; not sampled)
///                h- = E[h | v-]
///     dW = mu dW + eps ((v' h+ - v-' h-) / B - weightCost W),  W += dW
///     db = mu db + eps / B (sum v - sum v-),  dc = mu dc + eps / B (sum h+ - sum h-)
///
/// The cases are visited in a fresh seeded permutation each epoch (H&S shuffle once, in
/// `makebatches.m`). All matrix products go through `gemm`.
public struct ContrastiveDivergence<Scalar: NetworkScalar>: Sendable {
    public let configuration: RBMTrainingConfiguration

    public init(configuration: RBMTrainingConfiguration = RBMTrainingConfiguration()) {
        configuration.validate()
        self.configuration = configuration
    }

    /// One epoch of CD-1 over `data` (`cases x visibleCount`, row-major).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func trainEpoch(_ state: inout RBMTrainingState<Scalar>, data: Matrix<Scalar>,
                           layer: Int = 0, layers: Int = 1) -> RBMEpochRecord {
        let start = ContinuousClock.now
        // Read shapes and unit types only: holding a copy of the machine would make the first
        // weight update copy W.
        let (nv, nh) = (state.machine.visibleCount, state.machine.hiddenCount)
        precondition(data.columns == nv, "data has \(data.columns) columns, RBM has \(nv) visible units")
        precondition(data.rows > 0, "no training cases")
        let epsilon = configuration.learningRate(visibleUnits: state.machine.visibleUnits, hiddenUnits: state.machine.hiddenUnits)
        let mu = configuration.momentum(epoch: state.epoch)
        let b = min(configuration.batchSize, data.rows)

        // Work buffers, allocated once per epoch and resized for a short last batch.
        var batch = Matrix<Scalar>(rows: b, columns: nv)
        var positiveHidden = Matrix<Scalar>(rows: b, columns: nh)
        var hiddenStates = Matrix<Scalar>(rows: b, columns: nh)
        var negativeVisible = Matrix<Scalar>(rows: b, columns: nv)
        var negativeHidden = Matrix<Scalar>(rows: b, columns: nh)
        var gradient = Matrix<Scalar>(rows: nv, columns: nh)
        var positiveVisibleSums = [Double](repeating: 0, count: nv), negativeVisibleSums = positiveVisibleSums
        var positiveHiddenSums = [Double](repeating: 0, count: nh), negativeHiddenSums = positiveHiddenSums

        let order = state.generator.permutation(data.rows)
        var errorSum = 0.0
        var first = 0
        while first < data.rows {
            let count = min(b, data.rows - first)
            if count != batch.rows {
                batch.resize(rows: count); positiveHidden.resize(rows: count); hiddenStates.resize(rows: count)
                negativeVisible.resize(rows: count); negativeHidden.resize(rows: count)
            }
            for r in 0..<count {
                let source = order[first + r] * nv
                for i in 0..<nv { batch.storage[r * nv + i] = data.storage[source + i] }
            }
            // The phases read a copy of the machine; it goes out of scope before the update so
            // the weights are not copied on write.
            do {
                let m = state.machine
                // Positive phase.
                batch.withView { v in positiveHidden.withMutableView { h in m.hiddenMeans(v, into: h) } }
                batch.withView { v in positiveHidden.withView { h in gradient.withMutableView { g in
                    gemm(v, .transposed, h, .none, into: g) } } }
                batch.withView { columnSums($0, into: &positiveVisibleSums) }
                positiveHidden.withView { columnSums($0, into: &positiveHiddenSums) }
                // Sample the hidden states.
                let total = count * nh
                if m.hiddenUnits == .binary {
                    for i in 0..<total {
                        hiddenStates.storage[i] = Double(positiveHidden.storage[i]) > state.generator.uniform() ? 1 : 0
                    }
                } else {
                    for i in 0..<total {
                        hiddenStates.storage[i] = positiveHidden.storage[i] + Scalar(state.generator.normal())
                    }
                }
                // Negative phase: one mean-field reconstruction and the hidden means it implies.
                hiddenStates.withView { h in negativeVisible.withMutableView { v in m.visibleMeans(h, into: v) } }
                negativeVisible.withView { v in negativeHidden.withMutableView { h in m.hiddenMeans(v, into: h) } }
                negativeVisible.withView { v in negativeHidden.withView { h in gradient.withMutableView { g in
                    gemm(v, .transposed, h, .none, into: g, alpha: -1, beta: 1) } } }
                negativeVisible.withView { columnSums($0, into: &negativeVisibleSums) }
                negativeHidden.withView { columnSums($0, into: &negativeHiddenSums) }
                for i in 0..<(count * nv) {
                    let d = Double(batch.storage[i]) - Double(negativeVisible.storage[i])
                    errorSum += d * d
                }
            }
            // Updates with momentum and weight cost (biases carry no weight cost).
            let scale = Scalar(epsilon / Double(count)), decay = Scalar(epsilon * configuration.weightCost)
            let momentum = Scalar(mu)
            gradient.storage.withUnsafeBufferPointer { g in
                state.weightIncrement.withUnsafeMutableBufferPointer { inc in
                    state.machine.weights.storage.withUnsafeMutableBufferPointer { w in
                        for i in 0..<(nv * nh) {
                            inc[i] = momentum * inc[i] + scale * g[i] - decay * w[i]
                            w[i] += inc[i]
                        }
                    }
                }
            }
            let biasScale = epsilon / Double(count)
            for i in 0..<nv {
                state.visibleBiasIncrement[i] = momentum * state.visibleBiasIncrement[i]
                    + Scalar(biasScale * (positiveVisibleSums[i] - negativeVisibleSums[i]))
                state.machine.visibleBias[i] += state.visibleBiasIncrement[i]
            }
            for j in 0..<nh {
                state.hiddenBiasIncrement[j] = momentum * state.hiddenBiasIncrement[j]
                    + Scalar(biasScale * (positiveHiddenSums[j] - negativeHiddenSums[j]))
                state.machine.hiddenBias[j] += state.hiddenBiasIncrement[j]
            }
            first += count
        }
        state.epoch += 1
        let elapsed = ContinuousClock.now - start
        return RBMEpochRecord(layer: layer, layers: layers, epoch: state.epoch, epochs: configuration.epochs,
                              reconstructionError: errorSum / Double(data.rows), learningRate: epsilon, momentum: mu,
                              seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }
}
