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
    /// The CURVES recipe version (`--curves-recipe`). Nil in run folders from before version
    /// 2 existed, which were made with version 1; see `curvesRecipeVersion`.
    public var curvesRecipe: Int?
    /// Hold the last this-many training cases out as the validation set (`--validation-split`).
    public var validationSplit: Int?
    /// NPY or CSV validation inputs and targets (`--validation-data`, `--validation-targets`).
    public var validationInputs: String?
    public var validationTargets: String?
    /// Whether runs on this data have a validation set: a split, the user's file, or FACES'
    /// own five people.
    public var hasValidationData: Bool {
        validationSplit != nil || validationInputs != nil || BenchmarkDataset(rawValue: dataset) == .faces
    }
    /// The user's files as they were when the run started, by field name ("trainInputs", ...):
    /// the path as typed (for display; the fields above hold it made absolute), its size and
    /// sha256, against which a moved copy is checked on resume. Nil in older run folders.
    public var files: [String: DataFileRecord]?

    public init(dataset: String, trainInputs: String? = nil, trainTargets: String? = nil, testInputs: String? = nil,
                testTargets: String? = nil, divideBy: Float? = nil, curvesSeed: UInt64 = Curves.defaultSeed,
                curvesRecipe: Int? = nil) {
        self.dataset = dataset; self.trainInputs = trainInputs; self.trainTargets = trainTargets
        self.testInputs = testInputs; self.testTargets = testTargets; self.divideBy = divideBy; self.curvesSeed = curvesSeed
        self.curvesRecipe = dataset == BenchmarkDataset.curves.rawValue ? (curvesRecipe ?? Curves.Recipe.latest.version) : curvesRecipe
    }

    /// The CURVES recipe version the run uses: the recorded one, else 1 (the only version
    /// when run folders had no such field).
    public var curvesRecipeVersion: Int { curvesRecipe ?? Curves.Recipe.version1.version }

    /// The file fields, with the flag that sets each.
    public static var fileFields: [(name: String, path: WritableKeyPath<DataSpecification, String?>, flag: String)] {
        [("trainInputs", \.trainInputs, "--data"), ("trainTargets", \.trainTargets, "--targets"),
         ("testInputs", \.testInputs, "--test-data"), ("testTargets", \.testTargets, "--test-targets"),
         ("validationInputs", \.validationInputs, "--validation-data"), ("validationTargets", \.validationTargets, "--validation-targets")]
    }

    /// How the data set is shown in tables: the paper's name (CURVES made with an older recipe
    /// says which), or the training inputs' file name as the user gave it.
    public var displayName: String {
        guard BenchmarkDataset(rawValue: dataset) == nil, let path = trainInputs else { return dataset.uppercased() + recipeNote }
        return URL(fileURLWithPath: files?["trainInputs"]?.asGiven ?? path).lastPathComponent
    }

    /// " (recipe N)" for CURVES made with another recipe than the latest, else empty: results
    /// on the two versions are not comparable (docs/datasets.md).
    public var recipeNote: String {
        dataset == BenchmarkDataset.curves.rawValue && curvesRecipeVersion != Curves.Recipe.latest.version
            ? " (recipe \(curvesRecipeVersion))" : ""
    }

    /// `path` made absolute against `directory` (an absolute `path` stays as it is).
    public static func absolute(_ path: String, in directory: URL) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory.path, isDirectory: true)).standardizedFileURL.path
    }

    /// This specification with relative paths made absolute against `directory` (the
    /// original text kept in `files` for display) and each file's size and sha256 recorded.
    public func resolved(against directory: URL) throws -> DataSpecification {
        var copy = self
        var records: [String: DataFileRecord] = [:]
        for field in Self.fileFields {
            guard let given = self[keyPath: field.path] else { continue }
            let absolute = Self.absolute(given, in: directory)
            let (sha256, bytes) = try SHA256.file(URL(fileURLWithPath: absolute))
            copy[keyPath: field.path] = absolute
            records[field.name] = DataFileRecord(asGiven: given, bytes: bytes, sha256: sha256)
        }
        copy.files = records.isEmpty ? nil : records
        return copy
    }

    /// This specification with some files at new locations (`newPaths` by field name, relative
    /// to `directory`), each checked to be the same file: equal size and sha256 with the
    /// record made when the run started. Runs from before these records must match by shape,
    /// which the caller checks when it loads the data.
    public func relocated(_ newPaths: [String: String], relativeTo directory: URL) throws -> DataSpecification {
        var copy = self
        for field in Self.fileFields {
            guard let given = newPaths[field.name] else { continue }
            guard let old = self[keyPath: field.path] else {
                throw ExperimentError.invalid("\(field.flag) \(given): the run has no such file to move (it was started without \(field.flag))")
            }
            let absolute = Self.absolute(given, in: directory)
            if let record = files?[field.name] {
                let (sha256, bytes) = try SHA256.file(URL(fileURLWithPath: absolute))
                guard bytes == record.bytes, sha256 == record.sha256 else {
                    throw ExperimentError.invalid("\(field.flag) \(given) is not the file this run was started with (\(old): \(record.bytes) bytes, sha256 \(record.sha256.prefix(12))...; given: \(bytes) bytes, sha256 \(sha256.prefix(12))...); give a copy of that file, or start a new run")
                }
                copy.files?[field.name] = DataFileRecord(asGiven: given, bytes: bytes, sha256: sha256)
            }
            copy[keyPath: field.path] = absolute
        }
        return copy
    }

    /// Checks that the user's files are where the configuration says; a missing one is named
    /// with the flag that gives its new location.
    public func checkFilesExist(hint: (_ flag: String) -> String) throws {
        for field in Self.fileFields {
            guard let path = self[keyPath: field.path], !FileManager.default.fileExists(atPath: path) else { continue }
            throw ExperimentError.invalid("\(path): no such file (the run's \(field.flag) file); \(hint(field.flag))")
        }
    }

    /// Loads the data set this specification names, with its validation split or files; with
    /// a `shard`, only that shard's block of each split (a user's NPY files are read only
    /// there, unless a validation split or file needs the whole training set first).
    public func load(locations: DataLocations, progress: ProgressHandler? = nil, shard: DataShard = .whole) throws -> Dataset {
        var d: Dataset
        let scaling: Scaling = divideBy.map { .divide(by: $0) } ?? .none
        func url(_ p: String?) -> URL? { p.map { URL(fileURLWithPath: $0) } }
        // The validation split is the last cases of the whole training set, so the set is
        // split first and sharded after.
        let readWhole = validationSplit != nil || validationInputs != nil
        if let benchmark = BenchmarkDataset(rawValue: dataset) {
            d = try Dataset.load(benchmark, locations: locations, curvesSeed: curvesSeed,
                                 curvesRecipe: try Curves.Recipe.version(curvesRecipeVersion), progress: progress)
        } else {
            guard let trainInputs else { throw ExperimentError.invalid("data set '\(dataset)' is not mnist, curves or faces, and no training file was given") }
            d = try UserData.load(trainInputs: URL(fileURLWithPath: trainInputs), trainTargets: url(trainTargets),
                                  testInputs: url(testInputs), testTargets: url(testTargets), scaling: scaling,
                                  shard: readWhole ? .whole : shard)
            if !readWhole { return d }
        }
        if let k = validationSplit { d = try d.holdingOut(lastTrainingCases: k) }
        if let v = validationInputs {
            let x = try UserData.readMatrix(URL(fileURLWithPath: v), scaling: scaling)
            let t = try validationTargets.map { try UserData.readMatrix(URL(fileURLWithPath: $0), scaling: scaling) }
            d = try d.withValidation(inputs: x, targets: t, source: validationTargets ?? v)
        }
        return d.shard(shard)
    }
}

/// A user's data file as a run recorded it when it started.
public struct DataFileRecord: Codable, Sendable, Equatable {
    /// The path as the user typed it (relative paths are resolved and stored absolute).
    public var asGiven: String
    public var bytes: Int
    /// Lowercase hex.
    public var sha256: String
    public init(asGiven: String, bytes: Int, sha256: String) { self.asGiven = asGiven; self.bytes = bytes; self.sha256 = sha256 }
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
    /// The pre-training seconds that `initialParameters` records (its `pretraining_seconds`
    /// metadata), copied here when the run is created, so the run's own record says it starts
    /// from pre-trained weights even where that file is absent (`hf report`'s Init column);
    /// nil when the file has no such entry, or for runs made before this field.
    public var initialParametersPretrainingSeconds: Double?
    /// The pre-training CPU seconds that `initialParameters` records (its
    /// `pretraining_cpu_seconds` metadata), copied when the run is created: the run's CPU
    /// clock starts from them. nil for files without that entry and for runs made before this
    /// field (their CPU clock started from the wall-clock seconds above).
    public var initialParametersPretrainingCPUSeconds: Double?
    /// The Hessian-free optimizer's settings (issue "Hessian-free optimizer"; each field cites
    /// its section). Its `weightCost` is kept equal to `weightCost` above.
    public var hessianFree: HessianFreeConfiguration
    /// Stop after this many iterations in total (over resumes).
    public var maximumIterations: Int?
    /// Stop a single invocation after this many seconds of wall-clock time.
    public var timeLimitSeconds: Double?
    /// Stop once the run's CPU seconds, over all invocations and pre-training included (its
    /// metrics' `cpu_seconds`), reach this (`--cpu-budget`): optimizers compared at equal cost.
    public var cpuBudgetSeconds: Double?
    /// Compute full training and test errors every this many iterations (the paper reports
    /// them every iteration).
    public var evaluationInterval: Int
    /// Write a checkpoint every this many iterations (also at the end and on SIGINT/SIGTERM).
    public var checkpointInterval: Int
    /// Write a `metrics.jsonl` record every this many iterations (`--log-interval`); records
    /// that measured an error or the training objective are always written, so the best
    /// iteration, early stopping and convergence see the same records on a resume.
    public var logInterval: Int
    /// The `hf` version that wrote this configuration.
    public var toolVersion: String
    /// Stop after this many evaluations in a row without a new best validation error
    /// (`--early-stopping`); nil: no early stopping. Needs validation data.
    public var earlyStoppingPatience: Int?
    /// The paper's protocol on data with no validation set (`--paper-style-stop`): stop after
    /// this many evaluations in a row without a new best *test* error. The best iteration is
    /// then chosen on test data, as Table 2's numbers were; nil: no such stop. Excludes
    /// validation data and `earlyStoppingPatience`.
    public var paperStylePatience: Int?
    /// `--test-once`: the test set is not evaluated during the run; the best iteration is chosen
    /// on validation data alone, and its parameters' test error is measured once, when the run
    /// stops for good (any stop but `interrupted`), into `summary.json`. Needs validation data.
    public var testOnce: Bool
    /// When a run has converged (`--convergence-window`, `--convergence-tolerance`).
    public var convergence: ConvergenceRule

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
        self.initialParametersPretrainingSeconds = nil; self.initialParametersPretrainingCPUSeconds = nil
        self.timeLimitSeconds = timeLimitSeconds; self.cpuBudgetSeconds = nil; self.evaluationInterval = evaluationInterval
        self.checkpointInterval = checkpointInterval; self.toolVersion = toolVersion; self.logInterval = 1
        self.earlyStoppingPatience = nil; self.paperStylePatience = nil; self.testOnce = false
        self.convergence = ConvergenceRule()
        self.hessianFree.weightCost = weightCost
    }

    enum CodingKeys: String, CodingKey {
        case preset, data, architecture, initialization, seed, weightCost, weightCostOnBiases, chunkSize, optimizer
        case baselines, pretraining, initialParameters, initialParametersPretrainingSeconds
        case initialParametersPretrainingCPUSeconds, hessianFree
        case maximumIterations, timeLimitSeconds, cpuBudgetSeconds
        case evaluationInterval, checkpointInterval, logInterval, toolVersion, earlyStoppingPatience, paperStylePatience, testOnce, convergence
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
        initialParametersPretrainingSeconds = try c.decodeIfPresent(Double.self, forKey: .initialParametersPretrainingSeconds)
        initialParametersPretrainingCPUSeconds = try c.decodeIfPresent(Double.self, forKey: .initialParametersPretrainingCPUSeconds)
        hessianFree = try c.decode(HessianFreeConfiguration.self, forKey: .hessianFree)
        maximumIterations = try c.decodeIfPresent(Int.self, forKey: .maximumIterations)
        timeLimitSeconds = try c.decodeIfPresent(Double.self, forKey: .timeLimitSeconds)
        cpuBudgetSeconds = try c.decodeIfPresent(Double.self, forKey: .cpuBudgetSeconds)
        evaluationInterval = try c.decode(Int.self, forKey: .evaluationInterval)
        checkpointInterval = try c.decode(Int.self, forKey: .checkpointInterval)
        logInterval = try c.decodeIfPresent(Int.self, forKey: .logInterval) ?? 1
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience)
        paperStylePatience = try c.decodeIfPresent(Int.self, forKey: .paperStylePatience)
        testOnce = try c.decodeIfPresent(Bool.self, forKey: .testOnce) ?? false
        convergence = try c.decodeIfPresent(ConvergenceRule.self, forKey: .convergence) ?? ConvergenceRule()
    }

    /// This configuration with mini-batch sizes larger than the training set (`cases`) cut
    /// down to it, and a note for each one cut (the note names the flag).
    public func cappingBatchSizes(toCases cases: Int) -> (ExperimentConfiguration, [String]) {
        var c = self, notes: [String] = []
        func note(_ flag: String, _ size: Int) {
            notes.append("\(flag) \(size) is larger than the \(cases) training cases; using \(cases)")
        }
        if optimizer == .hf, case .fixed(let k) = hessianFree.curvatureBatches, k > cases {
            c.hessianFree.curvatureBatches = .fixed(size: cases); note("--batch-size", k)
        }
        switch optimizer {
        case .sgd: if let b = baselines.sgd.batchSize, b > cases { note("--minibatch-size", b); c.baselines.sgd.batchSize = cases }
        case .adam: if let b = baselines.adam.batchSize, b > cases { note("--minibatch-size", b); c.baselines.adam.batchSize = cases }
        case .ncg: if let b = baselines.ncg.casesPerBatch, b > cases { note("--minibatch-size", b); c.baselines.ncg.casesPerBatch = cases }
        case .hf, .lbfgs: break
        }
        return (c, notes)
    }

    /// Checks the settings a user can get wrong, with a message naming the setting.
    public func validate() throws {
        if hessianFree.adaptiveDamping && !(hessianFree.initialLambda > 0) {
            throw ExperimentError.invalid("--initial-lambda must be > 0 (a lambda of 0 can never grow again), got \(hessianFree.initialLambda); use --no-damping for a fixed lambda")
        }
        guard weightCost >= 0, weightCost.isFinite else { throw ExperimentError.invalid("--weight-cost must be finite and >= 0, got \(weightCost)") }
        guard chunkSize > 0 else { throw ExperimentError.invalid("--chunk-size must be positive, got \(chunkSize)") }
        guard evaluationInterval > 0 else { throw ExperimentError.invalid("--evaluation-interval must be positive, got \(evaluationInterval)") }
        guard checkpointInterval > 0 else { throw ExperimentError.invalid("--checkpoint-interval must be positive, got \(checkpointInterval)") }
        guard logInterval > 0 else { throw ExperimentError.invalid("--log-interval must be positive, got \(logInterval)") }
        if let m = maximumIterations, m < 0 { throw ExperimentError.invalid("--max-iterations must be >= 0, got \(m)") }
        if let t = timeLimitSeconds, !(t > 0) { throw ExperimentError.invalid("--time-limit must be positive seconds, got \(t)") }
        if let t = cpuBudgetSeconds, !(t > 0 && t.isFinite) { throw ExperimentError.invalid("--cpu-budget must be positive seconds, got \(t)") }
        do { try hessianFree.validate() } catch { throw ExperimentError.invalid("\(error)") }
        if let p = pretraining {
            guard p.rbm.epochs >= 0, p.rbm.batchSize > 0 else { throw ExperimentError.invalid("--pretrain-epochs must be >= 0") }
            guard architecture.layerSizes == architecture.layerSizes.reversed(), architecture.layerCount % 2 == 0 else {
                throw ExperimentError.invalid("RBM pre-training needs a symmetric auto-encoder (use --mirror)")
            }
        }
        if let p = earlyStoppingPatience, p < 1 { throw ExperimentError.invalid("--early-stopping must be >= 1 evaluation, got \(p)") }
        if let p = paperStylePatience, p < 1 { throw ExperimentError.invalid("--paper-style-stop must be >= 1 evaluation, got \(p)") }
        if earlyStoppingPatience != nil && paperStylePatience != nil {
            throw ExperimentError.invalid("--early-stopping and --paper-style-stop exclude each other: the first watches validation data, the second the test data of a run that has none")
        }
        guard convergence.window >= 1 else { throw ExperimentError.invalid("--convergence-window must be >= 1, got \(convergence.window)") }
        guard convergence.relativeTolerance >= 0, convergence.relativeTolerance.isFinite else {
            throw ExperimentError.invalid("--convergence-tolerance must be finite and >= 0 (0 turns the rule off), got \(convergence.relativeTolerance)")
        }
        if let k = data.validationSplit, k < 1 { throw ExperimentError.invalid("--validation-split must be >= 1 case, got \(k)") }
        if data.validationSplit != nil && data.validationInputs != nil {
            throw ExperimentError.invalid("--validation-split and --validation-data exclude each other")
        }
        if data.validationTargets != nil && data.validationInputs == nil {
            throw ExperimentError.invalid("--validation-targets needs --validation-data")
        }
        if earlyStoppingPatience != nil && !data.hasValidationData {
            throw ExperimentError.invalid("--early-stopping needs validation data: --validation-split K, --validation-data FILE, or a data set with its own validation set (faces); without any, --paper-style-stop N stops N evaluations past the lowest test error (the paper's protocol)")
        }
        if paperStylePatience != nil && data.hasValidationData {
            throw ExperimentError.invalid("--paper-style-stop is for runs without validation data; this run has some (--validation-split, --validation-data or faces' own): use --early-stopping N")
        }
        if testOnce && !data.hasValidationData {
            throw ExperimentError.invalid("--test-once needs validation data to choose the best iteration by: --validation-split K, --validation-data FILE, or a data set with its own validation set (faces)")
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
    /// A file or folder (`path`) that cannot be written: its parent is missing or read-only.
    case unwritable(String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let s): return s
        case .unreadableRun(let s): return s
        case .unwritable(let path, let reason): return "\(path): \(reason)"
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
