import Foundation
import LinearAlgebra
import NeuralNetworks
import Optimization
import Datasets

/// Where a run's data comes from: one of the paper's data sets by name, or the user's files.
public struct DataSpecification: Codable, Sendable, Equatable {
    /// "mnist", "curves", "faces", or "files" for `trainInputs` (and friends).
    public var dataset: String
    /// NPY or CSV paths for a user's data set (auto-encoder when no targets are given).
    public var trainInputs: String?
    public var trainTargets: String?
    public var testInputs: String?
    public var testTargets: String?
    /// Divide every value read from the user's files by this number (nil: keep values).
    public var divideBy: Float?
    /// The CURVES generator's seed (section 7 data; see docs/datasets.md).
    public var curvesSeed: UInt64

    public init(dataset: String, trainInputs: String? = nil, trainTargets: String? = nil, testInputs: String? = nil,
                testTargets: String? = nil, divideBy: Float? = nil, curvesSeed: UInt64 = Curves.defaultSeed) {
        self.dataset = dataset; self.trainInputs = trainInputs; self.trainTargets = trainTargets
        self.testInputs = testInputs; self.testTargets = testTargets; self.divideBy = divideBy; self.curvesSeed = curvesSeed
    }

    /// Loads the data set this specification names; with a `shard`, only that shard's block
    /// of each split (a user's NPY files are read only there).
    public func load(locations: DataLocations, progress: ProgressHandler? = nil, shard: DataShard = .whole) throws -> Dataset {
        if let benchmark = BenchmarkDataset(rawValue: dataset) {
            return try Dataset.load(benchmark, locations: locations, curvesSeed: curvesSeed, progress: progress).shard(shard)
        }
        guard let trainInputs else { throw ExperimentError.invalid("data set '\(dataset)' is not mnist, curves or faces, and no training file was given") }
        func url(_ p: String?) -> URL? { p.map { URL(fileURLWithPath: $0) } }
        return try UserData.load(trainInputs: URL(fileURLWithPath: trainInputs), trainTargets: url(trainTargets),
                                 testInputs: url(testInputs), testTargets: url(testTargets),
                                 scaling: divideBy.map { .divide(by: $0) } ?? .none, shard: shard)
    }
}

/// Which optimizer trains the network.
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    /// Hessian-free optimization (Martens 2010), the subject of this package.
    case hf
    /// Polak-Ribiere nonlinear CG with a Wolfe line search on mini-batches of about 1000 cases,
    /// 3 line searches each: the fine-tuning of Hinton & Salakhutdinov (2006) (PT+NCG).
    case ncg
    /// Stochastic gradient descent with momentum.
    case sgd
    /// Adam (Kingma & Ba 2015).
    case adam
    /// Full-batch L-BFGS, a quasi-Newton reference.
    case lbfgs
}

/// The baselines' settings (issue 6); each type documents its constants and their sources.
public struct BaselineConfigurations: Codable, Sendable, Equatable {
    public var ncg = NonlinearConjugateGradient<Float>.Configuration()
    public var sgd = StochasticGradientDescent<Float>.Configuration()
    public var adam = Adam<Float>.Configuration()
    public var lbfgs = LBFGS<Float>.Configuration()
    public init() {}
}

/// Greedy layer-wise RBM pre-training (Hinton & Salakhutdinov 2006) before fine-tuning.
public struct PretrainingSpecification: Codable, Sendable, Equatable {
    /// CD-1 constants (H&S's defaults; `epochs` is what `--pretrain-epochs` sets).
    public var rbm: RBMTrainingConfiguration
    /// Seeds the RBMs' initial weights and sampling.
    public var seed: UInt64
    public init(rbm: RBMTrainingConfiguration = RBMTrainingConfiguration(), seed: UInt64 = 1) {
        self.rbm = rbm; self.seed = seed
    }
}

/// Everything that defines a training run; saved as `config.json` in the run folder, so a
/// run can be resumed and reproduced from its folder alone.
public struct ExperimentConfiguration: Codable, Sendable, Equatable {
    /// The preset this configuration started from ("curves", "mnist", "faces", ..., or "custom").
    public var preset: String
    public var data: DataSpecification
    public var architecture: NetworkArchitecture
    public var initialization: InitializationScheme
    /// Seeds the initialization (the curvature-batch permutation has its own seed in `hessianFree`).
    public var seed: UInt64
    /// l2 weight cost: the objective is mean per-case loss + (weightCost / 2) |theta|^2.
    /// The paper's "l2 prior of strength 1e-4 (MNIST*) / 1e-2 (FACES*)" maps to this
    /// coefficient under our per-case-averaged scaling; Martens' code uses 2e-5 by default.
    public var weightCost: Double
    /// Whether the weight cost applies to biases too (true in Martens' code).
    public var weightCostOnBiases: Bool
    /// Cases per chunk of a full-data pass (bounds memory).
    public var chunkSize: Int
    public var optimizer: OptimizerKind
    /// Settings of the baselines, used when `optimizer` is not `.hf`.
    public var baselines: BaselineConfigurations
    /// RBM pre-training of the encoder before training (`--init pretrained`), or nil.
    public var pretraining: PretrainingSpecification?
    /// Initial parameters from a safetensors file (per-layer "layerL.weight"/"layerL.bias",
    /// as checkpoints and `pretrained.safetensors` store them), instead of `initialization`.
    public var initialParameters: String?
    /// The Hessian-free optimizer's settings (issue "Hessian-free optimizer"; each field cites
    /// its section). Its `weightCost` is kept equal to `weightCost` above.
    public var hessianFree: HessianFreeConfiguration
    /// Stop after this many iterations in total (over resumes).
    public var maximumIterations: Int?
    /// Stop a single invocation after this many seconds of wall-clock time.
    public var timeLimitSeconds: Double?
    /// Compute full training and test errors every this many iterations (the paper reports
    /// them every iteration).
    public var evaluationInterval: Int
    /// Write a checkpoint every this many iterations (also at the end and on SIGINT/SIGTERM).
    public var checkpointInterval: Int
    /// The `hf` version that wrote this configuration.
    public var toolVersion: String

    public init(preset: String, data: DataSpecification, architecture: NetworkArchitecture,
                initialization: InitializationScheme = .martens, seed: UInt64 = 1, weightCost: Double = 2e-5,
                weightCostOnBiases: Bool = true, chunkSize: Int = defaultChunkSize, optimizer: OptimizerKind = .hf,
                hessianFree: HessianFreeConfiguration = HessianFreeConfiguration(), maximumIterations: Int? = nil,
                timeLimitSeconds: Double? = nil, evaluationInterval: Int = 1, checkpointInterval: Int = 5,
                toolVersion: String = HessianFreeVersion.current) {
        self.preset = preset; self.data = data; self.architecture = architecture
        self.initialization = initialization; self.seed = seed; self.weightCost = weightCost
        self.weightCostOnBiases = weightCostOnBiases; self.chunkSize = chunkSize; self.optimizer = optimizer
        self.hessianFree = hessianFree; self.maximumIterations = maximumIterations
        self.baselines = BaselineConfigurations(); self.pretraining = nil; self.initialParameters = nil
        self.timeLimitSeconds = timeLimitSeconds; self.evaluationInterval = evaluationInterval
        self.checkpointInterval = checkpointInterval; self.toolVersion = toolVersion
        self.hessianFree.weightCost = weightCost
    }

    enum CodingKeys: String, CodingKey {
        case preset, data, architecture, initialization, seed, weightCost, weightCostOnBiases, chunkSize, optimizer
        case baselines, pretraining, initialParameters, hessianFree, maximumIterations, timeLimitSeconds
        case evaluationInterval, checkpointInterval, toolVersion
    }

    /// Reads a configuration; settings added after a run folder was written take their
    /// defaults, so older run folders stay readable and resumable.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(String.self, forKey: .preset)
        data = try c.decode(DataSpecification.self, forKey: .data)
        architecture = try c.decode(NetworkArchitecture.self, forKey: .architecture)
        initialization = try c.decode(InitializationScheme.self, forKey: .initialization)
        seed = try c.decode(UInt64.self, forKey: .seed)
        weightCost = try c.decode(Double.self, forKey: .weightCost)
        weightCostOnBiases = try c.decode(Bool.self, forKey: .weightCostOnBiases)
        chunkSize = try c.decode(Int.self, forKey: .chunkSize)
        optimizer = try c.decode(OptimizerKind.self, forKey: .optimizer)
        baselines = try c.decodeIfPresent(BaselineConfigurations.self, forKey: .baselines) ?? BaselineConfigurations()
        pretraining = try c.decodeIfPresent(PretrainingSpecification.self, forKey: .pretraining)
        initialParameters = try c.decodeIfPresent(String.self, forKey: .initialParameters)
        hessianFree = try c.decode(HessianFreeConfiguration.self, forKey: .hessianFree)
        maximumIterations = try c.decodeIfPresent(Int.self, forKey: .maximumIterations)
        timeLimitSeconds = try c.decodeIfPresent(Double.self, forKey: .timeLimitSeconds)
        evaluationInterval = try c.decode(Int.self, forKey: .evaluationInterval)
        checkpointInterval = try c.decode(Int.self, forKey: .checkpointInterval)
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
    }

    /// Checks the settings a user can get wrong, with a message naming the setting.
    public func validate() throws {
        guard weightCost >= 0, weightCost.isFinite else { throw ExperimentError.invalid("--weight-cost must be finite and >= 0, got \(weightCost)") }
        guard chunkSize > 0 else { throw ExperimentError.invalid("--chunk-size must be positive, got \(chunkSize)") }
        guard evaluationInterval > 0 else { throw ExperimentError.invalid("--evaluation-interval must be positive, got \(evaluationInterval)") }
        guard checkpointInterval > 0 else { throw ExperimentError.invalid("--checkpoint-interval must be positive, got \(checkpointInterval)") }
        if let m = maximumIterations, m < 0 { throw ExperimentError.invalid("--max-iterations must be >= 0, got \(m)") }
        if let t = timeLimitSeconds, !(t > 0) { throw ExperimentError.invalid("--time-limit must be positive seconds, got \(t)") }
        do { try hessianFree.validate() } catch { throw ExperimentError.invalid("\(error)") }
        if let p = pretraining {
            guard p.rbm.epochs >= 0, p.rbm.batchSize > 0 else { throw ExperimentError.invalid("--pretrain-epochs must be >= 0") }
            guard architecture.layerSizes == architecture.layerSizes.reversed(), architecture.layerCount % 2 == 0 else {
                throw ExperimentError.invalid("RBM pre-training needs a symmetric auto-encoder (use --mirror)")
            }
        }
        if pretraining != nil && initialParameters != nil {
            throw ExperimentError.invalid("--init pretrained and --init-from exclude each other")
        }
    }
}

/// The package version written into run folders.
public enum HessianFreeVersion {
    public static let current = "0.1.0"
}

/// Errors of experiment set-up, each a one-line message for the tool to print.
public enum ExperimentError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case unreadableRun(String)

    public var description: String {
        switch self {
        case .invalid(let s): return s
        case .unreadableRun(let s): return s
        }
    }
}

/// The paper's experiments (Table 1, section 7) as ready-made configurations.
public enum Preset: String, Codable, Sendable, CaseIterable {
    case curves
    case mnist
    /// MNIST with the paper's l2 prior ("MNIST*" in Table 2).
    case mnistL2 = "mnist-l2"
    case faces
    /// FACES with the paper's l2 prior ("FACES*" in Table 2).
    case facesL2 = "faces-l2"

    /// The data set the preset trains on.
    public var benchmark: BenchmarkDataset {
        switch self {
        case .curves: return .curves
        case .mnist, .mnistL2: return .mnist
        case .faces, .facesL2: return .faces
        }
    }

    /// The symmetric auto-encoder of Table 1: logistic hidden units, a linear code layer,
    /// logistic outputs (cross-entropy) for CURVES and MNIST, linear outputs (squared error)
    /// for FACES (real-valued, normalized data).
    public var architecture: NetworkArchitecture {
        let encoder = benchmark.table1.encoder
        // Table 1's sizes are valid by construction.
        return try! Self.autoencoder(encoder: encoder, hidden: .logistic, code: .linear,
                                     output: benchmark == .faces ? .linear : .logistic)
    }

    /// Number of curvature mini-batches the training set is cut into: K = 5000, 7500, 5175
    /// (Table 1) for 20000, 60000, 103500 cases.
    public var curvatureChunks: Int {
        switch benchmark {
        case .curves: return 4
        case .mnist: return 8
        case .faces: return 20
        }
    }

    /// l2 weight cost: Martens' code default 2e-5, or the paper's priors for the starred rows.
    public var weightCost: Double {
        switch self {
        case .curves, .mnist, .faces: return 2e-5
        case .mnistL2: return 1e-4
        case .facesL2: return 1e-2
        }
    }

    /// The full configuration of this preset.
    public func configuration() -> ExperimentConfiguration {
        var hf = HessianFreeConfiguration()
        hf.curvatureBatches = .chunks(count: curvatureChunks)
        return ExperimentConfiguration(preset: rawValue, data: DataSpecification(dataset: benchmark.rawValue),
                                       architecture: architecture, weightCost: weightCost, hessianFree: hf,
                                       maximumIterations: 500)
    }

    /// A symmetric auto-encoder: `encoder` sizes from input to code, mirrored for the decoder.
    public static func autoencoder(encoder: [Int], hidden: Activation, code: Activation, output: Activation) throws -> NetworkArchitecture {
        guard encoder.count >= 2 else { throw ExperimentError.invalid("an encoder needs at least an input and a code layer, got \(encoder)") }
        let sizes = encoder + encoder.dropLast().reversed()
        let encoderLayers = encoder.count - 1
        var activations: [Activation] = []
        for l in 0..<(2 * encoderLayers) {
            if l == encoderLayers - 1 { activations.append(code) }
            else if l == 2 * encoderLayers - 1 { activations.append(output) }
            else { activations.append(hidden) }
        }
        return try NetworkArchitecture(layerSizes: sizes, activations: activations)
    }
}
