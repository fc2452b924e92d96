import LinearAlgebra
import Optimization

/// Cases per chunk of a full-data pass unless told otherwise. Chunks bound the memory of
/// activations (MNIST's auto-encoder: 2500 x 4314 Float activations, about 43 MB, plus
/// delta and square buffers) and set the gemm shapes; on the 2-core development machine
/// `hf bench` measured 2500 as fast as or faster than 5000, 10000 and 15000.
public let defaultChunkSize = 2500

/// How to draw initial parameters.
public enum InitializationScheme: Sendable, Equatable, Codable {
    /// Martens' sparse initialization (section 5): each unit gets `connections` non-zero
    /// incoming weights (all of them if the fan-in is smaller), drawn from N(0, 1); biases 0.
    /// Tanh units get their weights scaled by 0.5 and biases 0.5 (as in `nnet_train_2.m`).
    ///
    /// Deviation from Martens' code, on purpose: his code draws the 15 source indices WITH
    /// replacement (so a unit may get fewer than 15 distinct connections); here they are
    /// drawn without replacement, so every unit has exactly min(connections, fanIn) non-zeros.
    case sparse(connections: Int)
    /// Dense small random weights: N(0, 1) * scale / sqrt(fanIn); biases 0.
    case dense(scale: Double)

    /// The paper's choice: 15 connections per unit.
    public static let martens = InitializationScheme.sparse(connections: 15)
}

/// Error metrics on a data set, separate from the training objective.
public struct NetworkMetrics: Sendable, Equatable, Codable {
    /// Number of cases measured.
    public var cases: Int
    /// Mean per-case matched loss (no weight cost).
    public var loss: Double
    /// The paper's reconstruction error (Table 2): per-case sum over outputs of
    /// (output activation - target)^2, averaged over cases.
    public var reconstructionError: Double
    /// Fraction of cases whose largest output differs from the largest target (softmax
    /// outputs only; nil otherwise).
    public var classificationError: Double?
}

/// A feed-forward network: an architecture and its parameters in one flat vector laid out
/// by `layout` (W_1, b_1, ..., W_L, b_L; W_l fan-in x fan-out row-major).
public struct NeuralNetwork<Scalar: NetworkScalar>: Sendable {
    public let architecture: NetworkArchitecture
    public let layout: ParameterLayout
    /// theta, `layout.parameterCount` long.
    public var parameters: Vector<Scalar>

    /// A network with the given parameters (`layout.parameterCount` long).
    public init(architecture: NetworkArchitecture, parameters: Vector<Scalar>) throws {
        let layout = architecture.layout
        guard parameters.count == layout.parameterCount else {
            throw NetworkError.shapeMismatch("\(layout.parameterCount) parameters expected, got \(parameters.count)")
        }
        self.architecture = architecture; self.layout = layout; self.parameters = parameters
    }

    /// A freshly initialized network; the same seed gives the same parameters everywhere.
    public init(architecture: NetworkArchitecture, initialization: InitializationScheme, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        self.init(architecture: architecture, initialization: initialization, generator: &generator)
    }

    /// A freshly initialized network drawing from `generator`.
    public init(architecture: NetworkArchitecture, initialization: InitializationScheme, generator: inout SeededGenerator) {
        self.architecture = architecture
        layout = architecture.layout
        var theta = [Scalar](repeating: 0, count: layout.parameterCount)
        for (index, layer) in layout.layers.enumerated() {
            let isTanh = architecture.activations[index] == .tanh
            switch initialization {
            case .sparse(let connections):
                precondition(connections > 0, "sparse initialization needs at least one connection per unit")
                let k = min(connections, layer.fanIn)
                let weightScale = isTanh ? 0.5 : 1.0
                var sources = Array(0..<layer.fanIn)
                for unit in 0..<layer.fanOut {
                    // Partial Fisher-Yates: k distinct source units.
                    for i in 0..<k {
                        let j = i + generator.integer(below: layer.fanIn - i)
                        sources.swapAt(i, j)
                        theta[layer.weightOffset + sources[i] * layer.fanOut + unit] = Scalar(generator.normal() * weightScale)
                    }
                }
                if isTanh { for b in layer.biasRange { theta[b] = 0.5 } }
            case .dense(let scale):
                let s = scale / Double(layer.fanIn).squareRoot()
                for w in layer.weightRange { theta[w] = Scalar(generator.normal() * s) }
            }
        }
        parameters = Vector(theta)
    }

    /// Output activations for `inputs` (cases x n_0), computed in chunks of `chunkSize`
    /// cases: cases x n_L.
    public func outputs(for inputs: Matrix<Scalar>, chunkSize: Int = defaultChunkSize) -> Matrix<Scalar> {
        precondition(inputs.columns == architecture.inputSize, "inputs have \(inputs.columns) columns, network expects \(architecture.inputSize)")
        precondition(chunkSize > 0, "chunk size must be positive")
        let passes = NetworkPasses<Scalar>(architecture: architecture)
        let workspace = PassWorkspace<Scalar>(architecture: architecture, capacity: min(chunkSize, max(inputs.rows, 1)),
                                              squaresCapacity: 0, gathersTargets: false)
        var result = Matrix<Scalar>(rows: inputs.rows, columns: architecture.outputSize)
        let nL = architecture.outputSize
        parameters.elements.withUnsafeBufferPointer { theta in
            inputs.storage.withUnsafeBufferPointer { x in
                result.storage.withUnsafeMutableBufferPointer { out in
                    var start = 0
                    while start < inputs.rows {
                        let rows = min(workspace.capacity, inputs.rows - start)
                        passes.forward(parameters: theta.baseAddress!, input: x.baseAddress! + start * inputs.columns, rows: rows,
                                       outputs: { workspace.activations[$0].pointer }, activateOutput: true)
                        (out.baseAddress! + start * nL).update(from: workspace.activations[passes.layerCount].pointer, count: rows * nL)
                        start += rows
                    }
                }
            }
        }
        return result
    }

    /// Loss, reconstruction error and (softmax) classification error on a data set,
    /// inputs cases x n_0 and targets cases x n_L, in chunks of `chunkSize` cases.
    ///
    /// With a data-parallel `reducer`, `inputs` and `targets` are this process's block of the
    /// cases, and the metrics are those of all shards' cases together.
    public func metrics(inputs: Matrix<Scalar>, targets: Matrix<Scalar>, chunkSize: Int = defaultChunkSize,
                        reducer: any ShardReducer = LocalShards()) throws -> NetworkMetrics {
        try architecture.checkData(inputs: inputs, targets: targets)
        precondition(chunkSize > 0, "chunk size must be positive")
        let passes = NetworkPasses<Scalar>(architecture: architecture)
        let workspace = PassWorkspace<Scalar>(architecture: architecture, capacity: min(chunkSize, max(inputs.rows, 1)),
                                              squaresCapacity: 0, gathersTargets: false)
        let tally = ErrorTally()
        let loss = parameters.elements.withUnsafeBufferPointer { theta in
            inputs.storage.withUnsafeBufferPointer { x in
                targets.storage.withUnsafeBufferPointer { t in
                    passes.accumulate(parameters: theta.baseAddress!, inputs: x.baseAddress!, targets: t.baseAddress!,
                                      totalRows: inputs.rows, rows: nil, workspace: workspace, chunk: workspace.capacity,
                                      scale: 1, gradient: nil, squaredGradient: nil, errors: tally)
                }
            }
        }
        if reducer.shardCount == 1 {
            return NetworkMetrics(sums: (loss, tally.squaredError, tally.misclassified), cases: inputs.rows, loss: architecture.loss)
        }
        var sums = [loss, tally.squaredError, Double(tally.misclassified), Double(inputs.rows)]
        sums.withUnsafeMutableBufferPointer { reducer.sumAcrossShards($0) }
        return NetworkMetrics(sums: (sums[0], sums[1], Int(sums[2].rounded())), cases: Int(sums[3].rounded()), loss: architecture.loss)
    }
}

extension NetworkMetrics {
    /// Metrics from sums over `cases` cases (loss, squared error, misclassified count).
    init(sums: (loss: Double, squaredError: Double, misclassified: Int), cases: Int, loss kind: OutputLoss) {
        let d = Double(max(cases, 1))
        self.init(cases: cases, loss: sums.loss / d, reconstructionError: sums.squaredError / d,
                  classificationError: kind == .multinomialCrossEntropy ? Double(sums.misclassified) / d : nil)
    }
}

/// Index of the first largest of n values.
@inline(__always) func argmax<S: BLASScalar>(_ p: UnsafePointer<S>, _ n: Int) -> Int {
    var best = 0
    for j in 1..<max(n, 1) where p[j] > p[best] { best = j }
    return best
}
