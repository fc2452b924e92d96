import Foundation
import XCTest
import LinearAlgebra
@testable import NeuralNetworks

final class RestrictedBoltzmannMachineTests: XCTestCase {
    func randomMachine(_ v: Int, _ h: Int, seed: UInt64, visible: RBMVisibleUnits = .binary,
                       hidden: RBMHiddenUnits = .binary) -> RestrictedBoltzmannMachine<Double> {
        var g = SeededGenerator(seed: seed)
        var m = RestrictedBoltzmannMachine<Double>(visibleCount: v, hiddenCount: h, visibleUnits: visible,
                                                   hiddenUnits: hidden, weightStandardDeviation: 1, generator: &g)
        m.visibleBias = (0..<v).map { _ in g.normal() }
        m.hiddenBias = (0..<h).map { _ in g.normal() }
        return m
    }

    /// Binary data drawn from a fixed distribution over 4-bit patterns.
    func tinyData(cases: Int, seed: UInt64) -> Matrix<Double> {
        let patterns: [([Double], Double)] = [([1, 1, 0, 0], 0.4), ([0, 0, 1, 1], 0.4), ([1, 0, 1, 0], 0.1), ([0, 1, 0, 1], 0.1)]
        var g = SeededGenerator(seed: seed)
        var elements: [Double] = []
        for _ in 0..<cases {
            let u = g.uniform()
            var cumulative = 0.0
            var chosen = patterns.last!.0
            for (p, w) in patterns {
                cumulative += w
                if u < cumulative { chosen = p; break }
            }
            elements += chosen
        }
        return Matrix(rows: cases, columns: 4, elements: elements)
    }

    /// F(v) against -log sum_h exp(-E(v, h)) with h enumerated, E = -b'v - c'h - v'W h:
    /// an independent check of the closed form the exact likelihood uses (tolerance 1e-12,
    /// Double rounding on sums of a few terms of size ~10).
    func testFreeEnergyMatchesEnumerationOverHiddenStates() {
        let m = randomMachine(4, 3, seed: 1)
        for code in 0..<16 {
            let v = (0..<4).map { Double((code >> $0) & 1) }
            var z = 0.0
            for hc in 0..<8 {
                let h = (0..<3).map { Double((hc >> $0) & 1) }
                var e = 0.0
                for i in 0..<4 { e -= m.visibleBias[i] * v[i] }
                for j in 0..<3 { e -= m.hiddenBias[j] * h[j] }
                for i in 0..<4 { for j in 0..<3 { e -= v[i] * m.weights[i, j] * h[j] } }
                z += exp(-e)
            }
            XCTAssertEqual(m.freeEnergy(v), -log(z), accuracy: 1e-12)
        }
        // Probabilities of all 16 visible vectors sum to one.
        let logZ = m.exactLogPartitionFunction()
        let total = (0..<16).reduce(0.0) { s, code in s + exp(-m.freeEnergy((0..<4).map { Double((code >> $0) & 1) }) - logZ) }
        XCTAssertEqual(total, 1, accuracy: 1e-12)
    }

    /// CD-1 with H&S's update rule on a 4 x 3 binary RBM raises the exact log-likelihood of
    /// the training data (computed by enumerating all 16 visible vectors) from its value at
    /// initialization (about -4 log 2 = -2.77) by at least 0.8 nats (measured: -2.78 to -1.20
    /// after 100 epochs); minus the sample's empirical entropy (about 1.19 nats) bounds it above.
    func testCD1RaisesExactLogLikelihoodOfTinyBinaryRBM() {
        let data = tinyData(cases: 500, seed: 2)
        let config = RBMTrainingConfiguration(batchSize: 10, learningRate: 0.1, epochs: 100)
        let cd = ContrastiveDivergence<Double>(configuration: config)
        var state = RBMTrainingState<Double>(visibleCount: 4, hiddenCount: 3, visibleUnits: .binary, hiddenUnits: .binary,
                                            configuration: config, generator: SeededGenerator(seed: 3))
        let initial = state.machine.exactLogLikelihood(data)
        var afterTen = initial
        for e in 0..<config.epochs {
            _ = cd.trainEpoch(&state, data: data)
            if e == 9 { afterTen = state.machine.exactLogLikelihood(data) }
        }
        let final = state.machine.exactLogLikelihood(data)
        XCTAssertLessThan(abs(initial + 4 * log(2)), 0.05, "near-uniform at initialization")
        XCTAssertGreaterThan(afterTen, initial, "rises early")
        XCTAssertGreaterThan(final, initial + 0.8, "initial \(initial), final \(final)")
        // No model's mean log-likelihood exceeds minus the empirical entropy of the sample.
        var counts: [[Double]: Double] = [:]
        for r in 0..<data.rows { counts[(0..<4).map { data[r, $0] }, default: 0] += 1 }
        let entropy = -counts.values.reduce(0.0) { $0 + ($1 / 500) * log($1 / 500) }
        XCTAssertLessThanOrEqual(final, -entropy + 1e-12)
    }

    /// hiddenMeans and visibleMeans against naive loops (Double, 1e-12) and the Float path
    /// against the Double one (1e-6: Float rounding of inputs of size ~5).
    func testConditionalMeansMatchNaiveFormulas() {
        for (visible, hidden) in [(RBMVisibleUnits.binary, RBMHiddenUnits.binary), (.gaussian, .linearGaussian)] {
            let m = randomMachine(5, 3, seed: 4, visible: visible, hidden: hidden)
            var g = SeededGenerator(seed: 5)
            let v = Matrix<Double>(rows: 7, columns: 5, elements: (0..<35).map { _ in g.uniform() })
            let h = m.hiddenMeans(v)
            var back = Matrix<Double>(rows: 7, columns: 5)
            h.withView { hv in back.withMutableView { m.visibleMeans(hv, into: $0) } }
            func logistic(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
            for r in 0..<7 {
                for j in 0..<3 {
                    let x = m.hiddenBias[j] + (0..<5).reduce(0.0) { $0 + v[r, $1] * m.weights[$1, j] }
                    XCTAssertEqual(h[r, j], hidden == .binary ? logistic(x) : x, accuracy: 1e-12)
                }
                for i in 0..<5 {
                    let x = m.visibleBias[i] + (0..<3).reduce(0.0) { $0 + h[r, $1] * m.weights[i, $1] }
                    XCTAssertEqual(back[r, i], visible == .binary ? logistic(x) : x, accuracy: 1e-12)
                }
            }
            let mf = RestrictedBoltzmannMachine<Float>(weights: Matrix(rows: 5, columns: 3, elements: m.weights.storage.map { Float($0) }),
                                                       visibleBias: m.visibleBias.map { Float($0) }, hiddenBias: m.hiddenBias.map { Float($0) },
                                                       visibleUnits: visible, hiddenUnits: hidden)
            let hf = mf.hiddenMeans(Matrix(rows: 7, columns: 5, elements: v.storage.map { Float($0) }))
            for i in 0..<21 { XCTAssertEqual(Double(hf.storage[i]), h.storage[i], accuracy: 1e-6) }
        }
    }

    /// Standardized real-valued data on a 2-D subspace of R^8 plus small noise.
    func realValuedData(cases: Int, seed: UInt64) -> Matrix<Double> {
        var g = SeededGenerator(seed: seed)
        let basis = (0..<2).map { _ in (0..<8).map { _ in g.normal() } }
        var rows: [[Double]] = (0..<cases).map { _ in
            let z = (0..<2).map { _ in g.normal() }
            return (0..<8).map { i in z[0] * basis[0][i] + z[1] * basis[1][i] + 0.1 * g.normal() }
        }
        for i in 0..<8 {
            let mean = rows.reduce(0) { $0 + $1[i] } / Double(cases)
            let sd = (rows.reduce(0) { $0 + ($1[i] - mean) * ($1[i] - mean) } / Double(cases)).squareRoot()
            for r in 0..<cases { rows[r][i] = (rows[r][i] - mean) / sd }
        }
        return Matrix(rows: cases, columns: 8, elements: rows.flatMap { $0 })
    }

    /// A Gaussian-visible RBM on standardized real data: at initialization the reconstruction
    /// is about the (zero) visible bias, so the error is about 8 (the total variance); 100
    /// epochs at rate 0.01 must cut it below 15% (measured: 7.67 to 0.52, 7%).
    func testGaussianVisibleRBMReducesReconstructionError() {
        let data = realValuedData(cases: 500, seed: 6)
        let config = RBMTrainingConfiguration(linearUnitLearningRate: 0.01, epochs: 100)
        let cd = ContrastiveDivergence<Double>(configuration: config)
        var state = RBMTrainingState<Double>(visibleCount: 8, hiddenCount: 16, visibleUnits: .gaussian, hiddenUnits: .binary,
                                            configuration: config, generator: SeededGenerator(seed: 7))
        let initial = state.machine.reconstructionError(data)
        var records: [RBMEpochRecord] = []
        for _ in 0..<config.epochs { records.append(cd.trainEpoch(&state, data: data)) }
        let final = state.machine.reconstructionError(data)
        XCTAssertGreaterThan(initial, 6)
        XCTAssertLessThan(final, 0.15 * initial, "initial \(initial), final \(final)")
        XCTAssertEqual(records.first!.learningRate, 0.01)
        XCTAssertEqual(records.first!.momentum, 0.5)
        XCTAssertEqual(records.last!.momentum, 0.9)
        XCTAssertLessThan(records.last!.reconstructionError, records.first!.reconstructionError)
    }

    /// A binary-visible, linear-hidden (code layer) RBM on probabilities from a 3-factor
    /// logistic model: 100 epochs at rate 0.01 cut the reconstruction error below 10%
    /// (measured: 1.24 to 0.043, 3.5%).
    func testLinearHiddenRBMReducesReconstructionError() {
        var g = SeededGenerator(seed: 8)
        let basis = (0..<3).map { _ in (0..<10).map { _ in 2 * g.normal() } }
        var elements: [Double] = []
        for _ in 0..<400 {
            let z = (0..<3).map { _ in g.normal() }
            for i in 0..<10 {
                var x = 0.0
                for k in 0..<3 { x += z[k] * basis[k][i] }
                elements.append(1 / (1 + exp(-x)))
            }
        }
        let data = Matrix<Double>(rows: 400, columns: 10, elements: elements)
        let config = RBMTrainingConfiguration(linearUnitLearningRate: 0.01, epochs: 100)
        let cd = ContrastiveDivergence<Double>(configuration: config)
        var state = RBMTrainingState<Double>(visibleCount: 10, hiddenCount: 3, visibleUnits: .binary, hiddenUnits: .linearGaussian,
                                            configuration: config, generator: SeededGenerator(seed: 9))
        let initial = state.machine.reconstructionError(data)
        for _ in 0..<config.epochs { _ = cd.trainEpoch(&state, data: data) }
        let final = state.machine.reconstructionError(data)
        XCTAssertLessThan(final, 0.1 * initial, "initial \(initial), final \(final)")
    }

    /// Training state round-trips through JSON and resumes bit-identically.
    func testTrainingStateResumesBitIdenticallyFromJSON() throws {
        let data = realValuedData(cases: 120, seed: 10)
        let config = RBMTrainingConfiguration(batchSize: 25, epochs: 4)
        let cd = ContrastiveDivergence<Double>(configuration: config)
        var state = RBMTrainingState<Double>(visibleCount: 8, hiddenCount: 5, visibleUnits: .gaussian, hiddenUnits: .linearGaussian,
                                            configuration: config, generator: SeededGenerator(seed: 11))
        for _ in 0..<2 { _ = cd.trainEpoch(&state, data: data) }
        var resumed = try JSONDecoder().decode(RBMTrainingState<Double>.self, from: JSONEncoder().encode(state))
        XCTAssertEqual(resumed, state)
        for _ in 0..<2 { _ = cd.trainEpoch(&state, data: data); _ = cd.trainEpoch(&resumed, data: data) }
        XCTAssertEqual(resumed, state)
        XCTAssertEqual(resumed.machine.weights.storage.map(\.bitPattern), state.machine.weights.storage.map(\.bitPattern))
        let config2 = try JSONDecoder().decode(RBMTrainingConfiguration.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(config2, config)
    }

    func testDefaultsAreHintonSalakhutdinovs() {
        let c = RBMTrainingConfiguration()
        XCTAssertEqual(c.batchSize, 100)
        XCTAssertEqual(c.learningRate, 0.1)
        XCTAssertEqual(c.linearUnitLearningRate, 0.001)
        XCTAssertEqual(c.weightCost, 0.0002)
        XCTAssertEqual([c.momentum(epoch: 0), c.momentum(epoch: 4), c.momentum(epoch: 5)], [0.5, 0.5, 0.9])
        XCTAssertEqual(c.epochs, 50)
        XCTAssertEqual(c.weightStandardDeviation, 0.1)
        XCTAssertEqual(c.learningRate(visibleUnits: .binary, hiddenUnits: .linearGaussian), 0.001)
        XCTAssertEqual(c.learningRate(visibleUnits: .gaussian, hiddenUnits: .binary), 0.001)
    }
}

final class LayerwisePretrainingTests: XCTestCase {
    /// A 3-RBM stack on Float data: shapes, unit types, one progress record per epoch per
    /// layer, and each upper RBM's data are the hidden means of the one below.
    func testPretrainStackShapesUnitsAndProgress() {
        var g = SeededGenerator(seed: 12)
        let data = Matrix<Float>(rows: 60, columns: 12, elements: (0..<720).map { _ in Float(g.uniform()) })
        var records: [RBMEpochRecord] = []
        let config = RBMTrainingConfiguration(batchSize: 20, epochs: 3)
        var generator = SeededGenerator(seed: 13)
        let stack = pretrainStack(data: data, layerSizes: [12, 8, 6, 2], configuration: config,
                                  generator: &generator) { records.append($0) }
        XCTAssertEqual(stack.map { [$0.visibleCount, $0.hiddenCount] }, [[12, 8], [8, 6], [6, 2]])
        XCTAssertEqual(stack.map(\.visibleUnits), [.binary, .binary, .binary])
        XCTAssertEqual(stack.map(\.hiddenUnits), [.binary, .binary, .linearGaussian])
        XCTAssertEqual(records.map(\.layer), [0, 0, 0, 1, 1, 1, 2, 2, 2])
        XCTAssertEqual(records.map(\.epoch), [1, 2, 3, 1, 2, 3, 1, 2, 3])
        XCTAssertEqual(records.map(\.learningRate), [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.001, 0.001, 0.001])
        XCTAssertTrue(stack.allSatisfy { $0.weights.storage.allSatisfy(\.isFinite) })
        // Same seed, same stack.
        var again = SeededGenerator(seed: 13)
        XCTAssertEqual(pretrainStack(data: data, layerSizes: [12, 8, 6, 2], configuration: config, generator: &again), stack)
    }

    /// Stopping pre-training after 4 epochs (inside the second layer), saving the state as
    /// JSON and resuming from the decoded state with the recomputed layer input gives the
    /// same stack, bit for bit, as `pretrainStack` run straight through.
    func testStackResumesFromJSONMidLayer() throws {
        var g = SeededGenerator(seed: 16)
        let data = Matrix<Double>(rows: 50, columns: 7, elements: (0..<350).map { _ in g.uniform() })
        let config = RBMTrainingConfiguration(batchSize: 10, epochs: 3)
        var generator = SeededGenerator(seed: 17)
        let straight = pretrainStack(data: data, layerSizes: [7, 5, 3], configuration: config, generator: &generator)

        let pretraining = LayerwisePretraining<Double>(layerSizes: [7, 5, 3], configuration: config)
        var seedSource = SeededGenerator(seed: 17)
        var state = pretraining.makeState(seed: seedSource.next())
        var input = pretraining.layerInput(state, data: data)
        for _ in 0..<4 {
            let finished = state.trained.count
            XCTAssertNotNil(pretraining.step(&state, input: input))
            if state.trained.count > finished { input = pretraining.layerInput(state, data: data) }
        }
        XCTAssertEqual(state.trained.count, 1)
        XCTAssertEqual(state.current?.epoch, 1)
        var resumed = try JSONDecoder().decode(LayerwisePretraining<Double>.State.self, from: JSONEncoder().encode(state))
        input = pretraining.layerInput(resumed, data: data)
        while !pretraining.isComplete(resumed) { _ = pretraining.step(&resumed, input: input) }
        XCTAssertEqual(resumed.trained, straight)

        // Zero epochs: the stack is its initialization, no records.
        var zero = SeededGenerator(seed: 1)
        var count = 0
        let untrained = pretrainStack(data: data, layerSizes: [7, 5, 3], configuration: RBMTrainingConfiguration(epochs: 0),
                                      generator: &zero) { _ in count += 1 }
        XCTAssertEqual(count, 0)
        XCTAssertEqual(untrained.map(\.hiddenCount), [5, 3])
    }

    /// Unrolling [W1, W2, W3] gives [W1, W2, W3, W3', W2', W1'] with hidden biases on the
    /// encoder and visible biases on the decoder; activations follow the unit types.
    func testUnrolledAutoencoderUsesWeightsTransposesAndBiases() {
        var g = SeededGenerator(seed: 14)
        let sizes = [6, 5, 4, 2]
        var machines: [RestrictedBoltzmannMachine<Double>] = []
        for l in 0..<3 {
            var m = RestrictedBoltzmannMachine<Double>(visibleCount: sizes[l], hiddenCount: sizes[l + 1],
                                                       visibleUnits: l == 0 ? .gaussian : .binary,
                                                       hiddenUnits: l == 2 ? .linearGaussian : .binary,
                                                       weightStandardDeviation: 1, generator: &g)
            m.visibleBias = (0..<sizes[l]).map { _ in g.normal() }
            m.hiddenBias = (0..<sizes[l + 1]).map { _ in g.normal() }
            machines.append(m)
        }
        let layers = unrolledAutoencoderLayers(machines)
        XCTAssertEqual(layers.count, 6)
        XCTAssertEqual(layers.map { [$0.weights.rows, $0.weights.columns] }, [[6, 5], [5, 4], [4, 2], [2, 4], [4, 5], [5, 6]])
        XCTAssertEqual(layers.map(\.activation), [.logistic, .logistic, .linear, .logistic, .logistic, .linear])
        for l in 0..<3 {
            XCTAssertEqual(layers[l].weights, machines[l].weights)
            XCTAssertEqual(layers[l].bias, machines[l].hiddenBias)
            let decoder = layers[5 - l]
            XCTAssertEqual(decoder.bias, machines[l].visibleBias)
            for i in 0..<sizes[l] { for j in 0..<sizes[l + 1] {
                XCTAssertEqual(decoder.weights[j, i], machines[l].weights[i, j])
            } }
        }
    }

    func testMachineRoundTripsThroughJSON() throws {
        var g = SeededGenerator(seed: 15)
        let m = RestrictedBoltzmannMachine<Float>(visibleCount: 3, hiddenCount: 2, visibleUnits: .gaussian,
                                                  hiddenUnits: .linearGaussian, generator: &g)
        let decoded = try JSONDecoder().decode(RestrictedBoltzmannMachine<Float>.self, from: JSONEncoder().encode(m))
        XCTAssertEqual(decoded, m)
        let bad = #"{"visible_count":3,"hidden_count":2,"weights":[1],"visible_bias":[0,0,0],"hidden_bias":[0,0],"visible_units":"binary","hidden_units":"binary"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(RestrictedBoltzmannMachine<Float>.self, from: Data(bad.utf8)))
    }
}
