import Foundation
import LinearAlgebra
import NeuralNetworks
import Optimization
import Datasets
import Reporting

/// A request to stop a run at the next iteration boundary (set from a signal handler).
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    public init() {}
    public func request() { lock.lock(); requested = true; lock.unlock() }
    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }
}

/// What a run tells its caller as it goes; the tool prints these, the library never does.
public enum TrainingEvent: Sendable {
    /// A one-line note about set-up or progress (data loaded, resuming, ...).
    case message(String)
    /// One optimizer iteration finished; its record is already in `metrics.jsonl` when the
    /// log interval keeps it (`ExperimentConfiguration.logInterval`).
    case iteration(MetricsRecord)
    /// A checkpoint was written for this iteration.
    case checkpoint(iteration: Int)
    /// Progress inside a long step: `done` of at most `total` units of `stage` (CG products).
    case progress(stage: String, done: Int, total: Int, seconds: Double)
}

/// Why and where a run stopped (what `summary.json` also records).
public struct TrainingOutcome: Sendable {
    public var stopReason: RunStopReason
    public var iterations: Int
    public var seconds: Double
    public var lastRecord: MetricsRecord?
    /// The summary written to `summary.json`.
    public var summary: TrainingSummary
    /// For a diverged run: what became non-finite.
    public var divergence: String?
}

/// CPU seconds this process has used (all threads), for a time axis that other processes
/// sharing the machine do not stretch.
public func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// A training run bound to its run folder:
///
///     <folder>/config.json          the resolved ExperimentConfiguration
///     <folder>/metrics.jsonl        one MetricsRecord per iteration
///     <folder>/checkpoint/          parameters.safetensors + optimizer_state.json (atomic)
///     <folder>/reconstructions.png  test images above their reconstructions (auto-encoders)
///     <folder>/best/                the parameters at the best iteration (as a checkpoint)
///     <folder>/summary.json         why the run stopped, the best iteration, the machine
///
/// `create` starts a new run, `resume` continues one from its last checkpoint; the resumed
/// trajectory is bit-identical to an uninterrupted one. In a data-parallel run (`context`)
/// `dataset` is this process's shard and only rank 0 writes the folder.
public final class TrainingRun {
    public let folder: RunFolder
    public let configuration: ExperimentConfiguration
    public let dataset: Dataset
    public let context: RunContext
    let objective: NeuralNetworkObjective<Float>
    let trainer: TrainingOptimizer
    /// Seconds spent by earlier invocations of this run (and by pre-training).
    private var elapsedBefore: Double
    /// Seconds this invocation spent before `run` (pre-training), which count against
    /// `timeLimitSeconds`, so runs with and without pre-training get equal wall-clock budgets.
    private var spentInThisInvocation: Double
    /// CPU seconds of earlier invocations (and pre-training), and this process's CPU clock
    /// when this invocation's share started.
    private var cpuBefore: Double
    private var cpuAtStart: Double
    /// The CPU seconds of pre-training within `cpuBefore` (for `summary.json`), or nil.
    private let pretrainingCPUSeconds: Double?
    /// Best iteration, early stopping and convergence, rebuilt from the kept metrics on resume.
    private var monitor: RunMonitor
    /// `--test-once`: the parameters of the monitor's best iteration, kept for the one test
    /// measurement at the end (every process holds them: the measurement is collective).
    private var bestParameters: Vector<Float>?
    /// The last record with measured errors (for `summary.json`).
    private var lastMeasured: MetricsRecord?

    public static let bestFolderName = "best"
    /// `best/`: the parameters at the best iteration, in checkpoint form.
    public var bestFolder: URL { folder.url.appendingPathComponent(Self.bestFolderName) }

    public static let parametersTensorPrefix = "layer"
    public static let pretrainedFileName = "pretrained.safetensors"

    /// Optimizer iterations completed.
    public var iteration: Int { trainer.iteration }
    /// The current parameters.
    public var parameters: Vector<Float> { trainer.parameters }

    private init(folder: RunFolder, configuration c: ExperimentConfiguration, dataset: Dataset, parameters: Vector<Float>,
                 saved: SavedOptimizerState?, tensors: SafeTensorsFile?, elapsedBefore: Double, cpuBefore: Double,
                 history: [MetricsRecord], context: RunContext) throws {
        self.folder = folder
        self.configuration = c
        self.dataset = dataset
        self.context = context
        objective = try Self.makeObjective(c, dataset, context)
        let seed = c.seed
        switch c.optimizer {
        case .hf:
            let previous = tensors?[HessianFreeTrainer.previousDirectionTensor].map { Vector<Float>($0.floats()) }
            trainer = try HessianFreeTrainer(objective: objective, configuration: c.hessianFree, parameters: parameters,
                                             saved: saved?.hessianFree, iteration: saved?.iteration ?? 0,
                                             previousDirection: previous)
        case .sgd:
            trainer = try Self.baseline(.sgd, StochasticGradientDescent<Float>(configuration: c.baselines.sgd), objective,
                                        parameters, seed, saved, saved?.sgd, tensors) { $1.sgd = $0 }
        case .adam:
            trainer = try Self.baseline(.adam, Adam<Float>(configuration: c.baselines.adam), objective,
                                        parameters, seed, saved, saved?.adam, tensors) { $1.adam = $0 }
        case .ncg:
            trainer = try Self.baseline(.ncg, NonlinearConjugateGradient<Float>(configuration: c.baselines.ncg), objective,
                                        parameters, seed, saved, saved?.ncg, tensors) { $1.ncg = $0 }
        case .lbfgs:
            trainer = try Self.baseline(.lbfgs, LBFGS<Float>(configuration: c.baselines.lbfgs), objective,
                                        parameters, seed, saved, saved?.lbfgs, tensors) { $1.lbfgs = $0 }
        }
        self.elapsedBefore = elapsedBefore
        spentInThisInvocation = saved == nil ? elapsedBefore : 0
        self.cpuBefore = cpuBefore
        cpuAtStart = processCPUSeconds()
        pretrainingCPUSeconds = context.writesFiles ? Self.pretrainingCPUSeconds(c, folder: folder) : nil
        // Sharded splits: a process may hold none of a small split's cases, so all decide on
        // whether any process holds some (the monitors must stop every process alike).
        let criterion: SelectionCriterion = context.anyProcess((dataset.validation?.rows ?? 0) > 0) ? .validation
            : context.anyProcess(dataset.test.rows > 0) ? .test : .train
        monitor = RunMonitor(criterion: criterion, patience: c.earlyStoppingPatience ?? c.paperStylePatience, convergence: c.convergence)
        for r in history { _ = monitor.observe(r) }
        lastMeasured = history.last(where: Self.isMeasured)
    }

    /// A baseline trainer, from its saved state (which must be there when the checkpoint says
    /// it is this optimizer's; its vectors come from the checkpoint's tensors) or fresh at
    /// `parameters`.
    private static func baseline<O: FirstOrderOptimizer>(
        _ kind: OptimizerKind, _ optimizer: O, _ objective: NeuralNetworkObjective<Float>, _ parameters: Vector<Float>,
        _ seed: UInt64, _ saved: SavedOptimizerState?, _ state: O.State?, _ tensors: SafeTensorsFile?,
        store: @escaping (O.State, inout SavedOptimizerState) -> Void
    ) throws -> BaselineTrainer<O> where O.Scalar == Float, O.State: CheckpointVectors {
        if saved != nil && state == nil {
            throw ExperimentError.unreadableRun("checkpoint holds no state for optimizer '\(kind.rawValue)'")
        }
        var s = state ?? optimizer.makeState(parameters: parameters, caseCount: objective.caseCount, seed: seed)
        if state != nil {
            try s.restoreVectors(parameters: parameters) { name in tensors?[name].map { Vector<Float>($0.floats()) } }
        }
        return BaselineTrainer(kind: kind, objective: objective, optimizer: optimizer, state: s,
                               gradientEvaluations: saved?.gradientEvaluations ?? 0,
                               casesEvaluated: saved?.casesEvaluated ?? 0, store: store)
    }

    private static func makeObjective(_ c: ExperimentConfiguration, _ dataset: Dataset, _ context: RunContext) throws -> NeuralNetworkObjective<Float> {
        let architecture = c.architecture
        guard dataset.dimension == architecture.inputSize else {
            throw ExperimentError.invalid("the network's input layer has \(architecture.inputSize) units but data set '\(dataset.name)' has \(dataset.dimension) values per case")
        }
        let targets = dataset.targets(.train) ?? dataset.train
        guard targets.columns == architecture.outputSize else {
            throw ExperimentError.invalid("the network's output layer has \(architecture.outputSize) units but the training targets have \(targets.columns) values per case")
        }
        guard dataset.train.rows > 0 else {
            if context.rankCount > 1 {
                throw ExperimentError.invalid("rank \(context.rank) of \(context.rankCount) holds no training cases of data set '\(dataset.name)'; use fewer processes")
            }
            throw ExperimentError.invalid("data set '\(dataset.name)' has no training cases")
        }
        return try NeuralNetworkObjective(architecture: architecture, inputs: dataset.train, targets: targets,
                                          weightCost: c.weightCost, weightCostOnBiases: c.weightCostOnBiases,
                                          chunkSize: c.chunkSize, reducer: context.reducer)
    }

    /// Starts a new run in `folder` (created; it must not already hold a run).
    ///
    /// Relative paths in the configuration (data files, `initialParameters`) are resolved
    /// against `workingDirectory` and stored absolute, so the run resumes and evaluates from
    /// any directory. Mini-batches larger than the training set are cut to it, with a message.
    public static func create(configuration: ExperimentConfiguration, folder url: URL, locations: DataLocations,
                              workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                              events: (TrainingEvent) -> Void = { _ in }, context: RunContext = .single) throws -> TrainingRun {
        try configuration.validate()
        let folder = RunFolder(url)
        if FileManager.default.fileExists(atPath: folder.configuration.path) {
            throw ExperimentError.invalid("\(url.path) already holds a run; use `hf train --resume \(url.path)` or another --out")
        }
        try AtomicFile.checkCanCreateFolder(url)
        var configuration = configuration
        configuration.data = try configuration.data.resolved(against: workingDirectory)
        configuration.initialParameters = configuration.initialParameters.map { DataSpecification.absolute($0, in: workingDirectory) }
        if let path = configuration.initialParameters {   // read before the folder exists: a bad file leaves nothing behind
            let file = try readInitialParameters(path)
            configuration.initialParametersPretrainingSeconds = recordedPretrainingSeconds(file)
            configuration.initialParametersPretrainingCPUSeconds = file.metadata["pretraining_cpu_seconds"].flatMap(Double.init)
        }
        let dataset = try load(configuration, locations: locations, events: events, context: context)
        try checkStoppingData(configuration, dataset, context)
        let notes: [String]
        // Each process holds a shard: the cap is the whole training set's size.
        (configuration, notes) = configuration.cappingBatchSizes(toCases: Int(context.reducer.sumAcrossShards(Double(dataset.train.rows)).rounded()))
        for note in notes { events(.message(note)) }
        // Checks shapes before anything is written; in a data-parallel run this is also the
        // point every process passes (a sum) before rank 0 creates the folder.
        _ = try makeObjective(configuration, dataset, context)
        if context.writesFiles {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw ExperimentError.unwritable(url.path, reason: "cannot create the folder (\(ReportingError.reason(error)))")
            }
            try folder.writeConfiguration(configuration)
            try AtomicFile.write(Data(), to: folder.metrics)
        }
        let (theta, seconds, cpu) = try initialParameters(configuration, dataset: dataset, folder: folder, events: events, context: context)
        return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                               saved: nil, tensors: nil, elapsedBefore: seconds, cpuBefore: cpu, history: [], context: context)
    }

    /// `--paper-style-stop` watches the test error, so the run needs test cases (the
    /// configuration has already ruled out validation data). The test set is sharded like the
    /// training set: every process decides alike, on whether any holds test cases.
    static func checkStoppingData(_ c: ExperimentConfiguration, _ dataset: Dataset, _ context: RunContext) throws {
        if c.paperStylePatience != nil && !context.anyProcess(dataset.test.rows > 0) {
            throw ExperimentError.invalid("--paper-style-stop watches the test error, and this run has no test data: give --test-data FILE, or use --validation-data/--validation-split with --early-stopping")
        }
    }

    /// The safetensors file of `--init-from`, or an error that names it.
    static func readInitialParameters(_ path: String) throws -> SafeTensorsFile {
        do { return try SafeTensors.read(from: URL(fileURLWithPath: path)) }
        catch { throw ExperimentError.unreadableRun("\(path): \(error)") }
    }

    /// The pre-training time a parameters file records in its metadata: wall-clock seconds
    /// (`pretraining_seconds`), or with `cpu` its CPU seconds where recorded; nil when the file
    /// records none (it was not made by pre-training).
    static func recordedPretrainingSeconds(_ file: SafeTensorsFile, cpu: Bool = false) -> Double? {
        (cpu ? file.metadata["pretraining_cpu_seconds"].flatMap(Double.init) : nil)
            ?? file.metadata["pretraining_seconds"].flatMap(Double.init)
    }

    /// The CPU seconds of pre-training on the clock of the run in `folder`: those its own
    /// `pretrained.safetensors` records (or, once that file is gone, its last summary), or
    /// those its `--init-from` weights recorded when it was created; nil without pre-training.
    static func pretrainingCPUSeconds(_ c: ExperimentConfiguration, folder: RunFolder) -> Double? {
        if c.pretraining != nil {
            let saved = folder.url.appendingPathComponent(pretrainedFileName)
            if let file = try? SafeTensors.read(from: saved) { return recordedPretrainingSeconds(file, cpu: true) }
            return (try? TrainingSummary.read(from: folder.url))?.pretrainingCPUSeconds
        }
        if c.initialParameters != nil {
            // The clock started from the CPU seconds where recorded, else the wall-clock ones.
            return c.initialParametersPretrainingCPUSeconds ?? c.initialParametersPretrainingSeconds
                ?? (try? TrainingSummary.read(from: folder.url))?.pretrainingCPUSeconds
        }
        return nil
    }

    /// The parameters a new run starts from, and the wall-clock and CPU seconds spent making
    /// them (pre-training; for saved weights the times they record, their wall-clock time
    /// standing for the CPU time where that is not recorded, and for a run made before
    /// config.json recorded the CPU time, as its clock started then).
    static func initialParameters(_ c: ExperimentConfiguration, dataset: Dataset, folder: RunFolder,
                                  events: (TrainingEvent) -> Void, context: RunContext = .single) throws -> (Vector<Float>, Double, Double) {
        let layout = c.architecture.layout
        if let path = c.initialParameters {
            let file = try readInitialParameters(path)
            // Weights from `pretrained.safetensors` keep their pre-training time on the run's
            // clock (Figure 2 includes pre-training time), so runs that share one pre-training
            // are compared fairly.
            let seconds = recordedPretrainingSeconds(file) ?? 0
            if seconds > 0 { events(.message(String(format: "%@ took %.1f s of pre-training; counted in this run's time", path, seconds))) }
            return (try parametersVector(from: file, layout: layout, file: path), seconds,
                    c.initialParametersPretrainingCPUSeconds ?? seconds)
        }
        guard let p = c.pretraining else {
            return (NeuralNetwork<Float>(architecture: c.architecture, initialization: c.initialization, seed: c.seed).parameters, 0, 0)
        }
        let saved = folder.url.appendingPathComponent(pretrainedFileName)
        if FileManager.default.fileExists(atPath: saved.path) {
            let file = try SafeTensors.read(from: saved)
            events(.message("using the pre-trained weights in \(saved.path)"))
            let seconds = recordedPretrainingSeconds(file) ?? 0
            return (try parametersVector(from: file, layout: layout, file: saved.path), seconds,
                    recordedPretrainingSeconds(file, cpu: true) ?? seconds)
        }
        // RBM pre-training is sequential over all training cases (CD-1 mini-batches), so
        // its weights come from one process; a data-parallel run starts from them.
        guard context.rankCount == 1 else {
            throw ExperimentError.invalid("--init pretrained runs in one process: pre-train with `hf train --init pretrained --max-iterations 0`, then start the parallel run with --init-from <run>/\(pretrainedFileName)")
        }
        let clock = ContinuousClock(), start = clock.now, cpuStart = processCPUSeconds()
        let theta = try Pretraining.pretrain(c.architecture, specification: p, data: dataset.train, events: events)
        let seconds = Double((clock.now - start).components.seconds) + Double((clock.now - start).components.attoseconds) * 1e-18
        let cpu = processCPUSeconds() - cpuStart
        try SafeTensors.write(parameterTensors(theta, layout: layout),
                              metadata: ["format": "hessianfree-parameters", "pretraining_seconds": String(seconds),
                                         "pretraining_cpu_seconds": String(cpu)], to: saved)
        events(.message(String(format: "pre-training took %.1f s; weights in %@", seconds, saved.path)))
        return (theta, seconds, cpu)
    }

    /// What a resume may change: when the run stops and how often it saves, never its
    /// trajectory.
    public struct ResumeChanges: Sendable {
        public var maximumIterations: Int?
        public var timeLimitSeconds: Double?
        public var cpuBudgetSeconds: Double?
        public var earlyStoppingPatience: Int?
        public var paperStylePatience: Int?
        public var convergence: ConvergenceRule?
        public var checkpointInterval: Int?
        public var logInterval: Int?
        public init(maximumIterations: Int? = nil, timeLimitSeconds: Double? = nil, earlyStoppingPatience: Int? = nil,
                    convergence: ConvergenceRule? = nil, checkpointInterval: Int? = nil, logInterval: Int? = nil,
                    cpuBudgetSeconds: Double? = nil, paperStylePatience: Int? = nil) {
            self.maximumIterations = maximumIterations; self.timeLimitSeconds = timeLimitSeconds
            self.cpuBudgetSeconds = cpuBudgetSeconds
            self.earlyStoppingPatience = earlyStoppingPatience; self.paperStylePatience = paperStylePatience
            self.convergence = convergence
            self.checkpointInterval = checkpointInterval; self.logInterval = logInterval
        }
    }

    /// Reopens the run in `folder` at its last checkpoint. `maximumIterations` and
    /// `timeLimitSeconds` may be changed (they do not alter the trajectory), and so may the
    /// locations of the user's data files (`movedFiles`, by `DataSpecification` field name,
    /// relative to `workingDirectory`) when each is the same file as before (size and sha256);
    /// the new locations are saved in `config.json`.
    public static func resume(folder url: URL, locations: DataLocations, maximumIterations: Int? = nil,
                              timeLimitSeconds: Double? = nil, movedFiles: [String: String] = [:],
                              workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                              events: (TrainingEvent) -> Void = { _ in }, context: RunContext = .single) throws -> TrainingRun {
        try resume(folder: url, locations: locations,
                   changes: ResumeChanges(maximumIterations: maximumIterations, timeLimitSeconds: timeLimitSeconds),
                   movedFiles: movedFiles, workingDirectory: workingDirectory, events: events, context: context)
    }

    /// Reopens the run in `folder` at its last checkpoint, with its stopping rules changed as
    /// `changes` says and data files moved as `movedFiles` says (as above); the configuration
    /// on disk is updated to match.
    public static func resume(folder url: URL, locations: DataLocations, changes: ResumeChanges,
                              movedFiles: [String: String] = [:],
                              workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                              events: (TrainingEvent) -> Void = { _ in }, context: RunContext = .single) throws -> TrainingRun {
        let folder = RunFolder(url)
        guard FileManager.default.fileExists(atPath: folder.configuration.path) else {
            throw ExperimentError.unreadableRun("\(url.path): not a run folder (no config.json)")
        }
        var configuration: ExperimentConfiguration
        do { configuration = try folder.readConfiguration(ExperimentConfiguration.self) }
        catch { throw ExperimentError.unreadableRun("\(folder.configuration.path): \(error)") }
        let before = configuration
        if let m = changes.maximumIterations { configuration.maximumIterations = m }
        if let t = changes.timeLimitSeconds { configuration.timeLimitSeconds = t }
        if let b = changes.cpuBudgetSeconds { configuration.cpuBudgetSeconds = b }
        if let p = changes.earlyStoppingPatience { configuration.earlyStoppingPatience = p }
        if let p = changes.paperStylePatience { configuration.paperStylePatience = p }
        if let r = changes.convergence { configuration.convergence = r }
        if let k = changes.checkpointInterval { configuration.checkpointInterval = k }
        if let k = changes.logInterval { configuration.logInterval = k }
        try configuration.validate()
        if !movedFiles.isEmpty {
            configuration.data = try configuration.data.relocated(movedFiles, relativeTo: workingDirectory)
        }
        try configuration.data.checkFilesExist { flag in
            "if it moved, give its new location: hf train --resume \(url.path) \(flag) FILE"
        }
        let dataset = try load(configuration, locations: locations, events: events, context: context)
        try checkStoppingData(configuration, dataset, context)
        if !movedFiles.isEmpty {
            _ = try makeObjective(configuration, dataset, context)   // runs from before file records: shapes must still fit
            let moved = DataSpecification.fileFields.filter { movedFiles[$0.name] != nil }
            events(.message("data now read from " + moved.compactMap { configuration.data[keyPath: $0.path] }.joined(separator: ", ")))
        }
        // A run made before config.json recorded the pre-training time of its --init-from
        // weights gets it now, while the file is still where the run was started.
        if let path = configuration.initialParameters, configuration.initialParametersPretrainingSeconds == nil,
           let file = try? SafeTensors.read(from: URL(fileURLWithPath: path)) {
            configuration.initialParametersPretrainingSeconds = recordedPretrainingSeconds(file)
        }
        if configuration != before && context.writesFiles { try folder.writeConfiguration(configuration) }
        guard FileManager.default.fileExists(atPath: folder.checkpoint.path) else {
            // Interrupted before its first checkpoint: start over (pre-trained weights are kept).
            events(.message("no checkpoint in \(url.path) yet: starting from iteration 0"))
            if context.writesFiles { try AtomicFile.write(Data(), to: folder.metrics) }
            let (theta, seconds, cpu) = try initialParameters(configuration, dataset: dataset, folder: folder, events: events, context: context)
            return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                                   saved: nil, tensors: nil, elapsedBefore: seconds, cpuBefore: cpu, history: [], context: context)
        }
        let checkpoint: Checkpoint<SavedOptimizerState>
        do { checkpoint = try Checkpoint<SavedOptimizerState>.read(from: folder.checkpoint) }
        catch { throw ExperimentError.unreadableRun("\(folder.checkpoint.path): \(error)") }
        let saved = checkpoint.optimizerState
        guard saved.optimizer == configuration.optimizer else {
            throw ExperimentError.unreadableRun("\(folder.checkpoint.path): checkpoint of optimizer '\(saved.optimizer.rawValue)', configuration says '\(configuration.optimizer.rawValue)'")
        }
        let theta = try parametersVector(from: checkpoint.parameters, layout: configuration.architecture.layout,
                                         file: folder.checkpoint.path)
        // Metrics written after the checkpoint belong to iterations that will be recomputed.
        if context.writesFiles { _ = try MetricsLog.truncate(folder.metrics, keepingIterationsThrough: saved.iteration) }
        // Every process reads the same kept records (rank 0 may not have truncated yet).
        let history = try folder.readMetrics().filter { $0.iteration <= saved.iteration }
        events(.message("resuming \(url.path) at iteration \(saved.iteration)"))
        let run: TrainingRun
        do {
            run = try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                                  saved: saved, tensors: checkpoint.parameters, elapsedBefore: saved.elapsedSeconds,
                                  cpuBefore: saved.cpuSeconds ?? saved.elapsedSeconds, history: history, context: context)
        } catch let e as ExperimentError {
            throw ExperimentError.unreadableRun("\(folder.checkpoint.path): \(e)")
        }
        // A run from before `best/` existed: when its best iteration is the checkpoint's, the
        // checkpoint holds those parameters.
        if let best = run.monitor.best, best.iteration == saved.iteration,
           !FileManager.default.fileExists(atPath: run.bestFolder.path) {
            try run.writeBest(best)
        }
        run.readBestParameters(events: events)
        return run
    }

    private static func load(_ configuration: ExperimentConfiguration, locations: DataLocations,
                             events: (TrainingEvent) -> Void, context: RunContext) throws -> Dataset {
        let clock = ContinuousClock(), start = clock.now
        events(.message("loading data set '\(configuration.data.dataset)'"))
        let dataset = try configuration.data.load(locations: locations, progress: nil, shard: context.shard)
        let s = (clock.now - start).components
        let part = context.rankCount > 1 ? String(format: " in rank %d's shard (of %d)", context.rank, context.rankCount) : ""
        events(.message(String(format: "data: %d training and %d test cases of %d values%@ (%.1f s)", dataset.train.rows,
                               dataset.test.rows, dataset.dimension, part, Double(s.seconds) + Double(s.attoseconds) * 1e-18)))
        return dataset
    }

    /// Reads a flat parameter vector from per-layer tensors "layerL.weight" / "layerL.bias".
    static func parametersVector(from file: SafeTensorsFile, layout: ParameterLayout, file path: String) throws -> Vector<Float> {
        var theta = Vector<Float>(zeros: layout.parameterCount)
        for (l, layer) in layout.layers.enumerated() {
            let wName = "\(parametersTensorPrefix)\(l + 1).weight", bName = "\(parametersTensorPrefix)\(l + 1).bias"
            guard let w = file[wName], w.shape == [layer.fanIn, layer.fanOut] else {
                throw ExperimentError.unreadableRun("\(path): tensor \(wName) missing or not \(layer.fanIn)x\(layer.fanOut)")
            }
            guard let b = file[bName], b.shape == [layer.fanOut] else {
                throw ExperimentError.unreadableRun("\(path): tensor \(bName) missing or not of length \(layer.fanOut)")
            }
            theta.elements.replaceSubrange(layer.weightRange, with: w.floats())
            theta.elements.replaceSubrange(layer.biasRange, with: b.floats())
        }
        guard theta.isFinite else { throw ExperimentError.unreadableRun("\(path): parameters are not finite") }
        return theta
    }

    /// Per-layer tensors of a flat parameter vector.
    static func parameterTensors(_ theta: Vector<Float>, layout: ParameterLayout) -> [SafeTensor] {
        var tensors: [SafeTensor] = []
        for (l, layer) in layout.layers.enumerated() {
            tensors.append(SafeTensor(name: "\(parametersTensorPrefix)\(l + 1).weight", shape: [layer.fanIn, layer.fanOut],
                                      values: Array(theta.elements[layer.weightRange])))
            tensors.append(SafeTensor(name: "\(parametersTensorPrefix)\(l + 1).bias", shape: [layer.fanOut],
                                      values: Array(theta.elements[layer.biasRange])))
        }
        return tensors
    }

    /// The current network.
    public var network: NeuralNetwork<Float> {
        // The state's parameters always have the layout's length.
        try! NeuralNetwork(architecture: configuration.architecture, parameters: trainer.parameters)
    }

    /// Writes the checkpoint for the current state (atomically) and the reconstructions picture;
    /// only rank 0 of a data-parallel run writes (the others hold the same state).
    public func writeCheckpoint(elapsedSeconds: Double) throws {
        guard context.writesFiles else { return }
        var tensors = Self.parameterTensors(trainer.parameters, layout: configuration.architecture.layout)
        for t in trainer.extraTensors() { tensors.append(SafeTensor(name: t.name, shape: [t.values.count], values: t.values)) }
        try Checkpoint(tensors: tensors, metadata: ["format": "hessianfree-checkpoint", "version": HessianFreeVersion.current,
                                                    "iteration": String(trainer.iteration)],
                       optimizerState: savedState(elapsedSeconds: elapsedSeconds)).write(to: folder.checkpoint)
        try writeReconstructions()
    }

    private func savedState(elapsedSeconds: Double) -> SavedOptimizerState {
        var s = trainer.saved(elapsedSeconds: elapsedSeconds)
        s.cpuSeconds = cpuSeconds()
        return s
    }

    /// CPU seconds of the run so far, over all invocations.
    private func cpuSeconds() -> Double { cpuBefore + processCPUSeconds() - cpuAtStart }

    /// Writes the current parameters to `best/` (atomically, in checkpoint form), as the
    /// parameters of `record`'s iteration.
    func writeBest(_ record: MetricsRecord) throws {
        guard context.writesFiles else { return }
        let tensors = Self.parameterTensors(trainer.parameters, layout: configuration.architecture.layout)
        let state = BestParametersState(iteration: record.iteration, selectedBy: monitor.criterion, errors: .init(record))
        try Checkpoint(tensors: tensors, metadata: ["format": "hessianfree-best-parameters", "version": HessianFreeVersion.current,
                                                    "iteration": String(record.iteration)],
                       optimizerState: state).write(to: bestFolder)
    }

    /// `--test-once`: the test error of the best iteration's parameters, or nil when there is
    /// no test set or no best iteration yet (or its parameters could not be read back on a
    /// resume). Every process takes part, and all skip it alike.
    private func testErrorOnceAtBest() throws -> Double? {
        guard context.anyProcess(dataset.test.rows > 0), !context.anyProcess(bestParameters == nil),
              let theta = bestParameters else { return nil }
        return try testMetrics(NeuralNetwork(architecture: configuration.architecture, parameters: theta)).reconstructionError
    }

    /// `network` on the test set (collective: every process passes its shard).
    private func testMetrics(_ network: NeuralNetwork<Float>) throws -> NetworkMetrics {
        try network.metrics(inputs: dataset.test, targets: dataset.targets(.test) ?? dataset.test,
                            chunkSize: configuration.chunkSize, reducer: context.reducer)
    }

    /// `--test-once` on a resume: the best iteration's parameters from `best/`, when they are
    /// the monitor's best (they can be a later iteration's, past the checkpoint, which the
    /// resumed run recomputes).
    private func readBestParameters(events: (TrainingEvent) -> Void) {
        guard configuration.testOnce, let best = monitor.best else { return }
        guard let saved = try? Checkpoint<BestParametersState>.read(from: bestFolder),
              saved.optimizerState.iteration == best.iteration,
              let theta = try? Self.parametersVector(from: saved.parameters, layout: configuration.architecture.layout,
                                                     file: bestFolder.path) else {
            events(.message("--test-once: \(bestFolder.path) does not hold iteration \(best.iteration)'s parameters; the test error will be measured only if a new best iteration comes"))
            return
        }
        bestParameters = theta
    }

    /// The summary of the run as it stands.
    func summary(stopReason: RunStopReason, seconds: Double) -> TrainingSummary {
        TrainingSummary(stopReason: stopReason, iterations: trainer.iteration, seconds: seconds, cpuSeconds: cpuSeconds(),
                        pretrainingCPUSeconds: pretrainingCPUSeconds, selectedBy: monitor.criterion, bestIteration: monitor.best?.iteration,
                        best: monitor.best.map { .init($0) }, last: lastMeasured.map { .init($0) },
                        optimizer: configuration.optimizer.rawValue, preset: configuration.preset, ranks: context.rankCount,
                        machine: .current(), toolVersion: HessianFreeVersion.current)
    }

    /// Whether `record` carries measured errors (they are NaN or absent between evaluations).
    private static func isMeasured(_ record: MetricsRecord) -> Bool {
        !record.trainError.isNaN || record.testError != nil || record.validationError != nil
    }

    /// Whether `record` goes to `metrics.jsonl`: every `interval`-th iteration, and every one
    /// whose errors or objective were measured (all an HF iteration's; a baseline's at its
    /// evaluations), which is all the run's monitor reads.
    static func isLogged(_ record: MetricsRecord, interval: Int) -> Bool {
        record.iteration % interval == 0 || isMeasured(record) || !record.trainLoss.isNaN
    }

    /// `reconstructions.png`: the first test images (training images when there is no test
    /// set) above the network's reconstructions, for auto-encoders on image data.
    public func writeReconstructions(count: Int = 20) throws {
        guard dataset.isAutoencoder, let w = dataset.imageWidth, let h = dataset.imageHeight else { return }
        let source = dataset.test.rows > 0 ? dataset.test : dataset.train
        let n = min(count, source.rows)
        guard n > 0 else { return }
        let sample = Matrix<Float>(rows: n, columns: source.columns, elements: Array(source.storage[0..<(n * source.columns)]))
        let outputs = network.outputs(for: sample)
        let originals = (0..<n).map { Array(sample.storage[($0 * sample.columns)..<(($0 + 1) * sample.columns)]) }
        let reconstructions = (0..<n).map { Array(outputs.storage[($0 * outputs.columns)..<(($0 + 1) * outputs.columns)]) }
        let grid = ReconstructionGrid.pixels(originals: originals, reconstructions: reconstructions, imageWidth: w, imageHeight: h,
                                             columns: 10)
        try PNGImage(width: grid.width, height: grid.height, pixels: grid.pixels)
            .write(to: folder.url.appendingPathComponent(ReportWriter.reconstructionsFileName))
    }

    /// Runs iterations until the configuration's limits, early stopping, convergence, a stalled
    /// or diverged optimizer, or `stop`.
    ///
    /// After each iteration the record goes to `metrics.jsonl` and to `events`; errors on the
    /// full training and test sets are computed every `evaluationInterval` iterations (NaN in
    /// between). A new best error saves the parameters to `best/`. A checkpoint is written
    /// every `checkpointInterval` iterations and at the end, and `summary.json` at the end.
    @discardableResult
    public func run(stop: StopFlag = StopFlag(), events: @escaping (TrainingEvent) -> Void = { _ in }) throws -> TrainingOutcome {
        let c = configuration
        let log = context.writesFiles ? try MetricsLog(appendingTo: folder.metrics) : nil
        let clock = ContinuousClock(), start = clock.now
        func elapsed() -> Double {
            let d = (clock.now - start).components
            return elapsedBefore + Double(d.seconds) + Double(d.attoseconds) * 1e-18
        }
        let trainTargets = dataset.targets(.train) ?? dataset.train
        var lastRecord: MetricsRecord?
        var reason = RunStopReason.maximumIterations
        var divergence: String?
        var lastCheckpointIteration = trainer.iteration
        var iterationStart = elapsed()

        loop: while true {
            if let m = c.maximumIterations, trainer.iteration >= m { reason = .maximumIterations; break }
            // Clocks and signals differ between processes: all stop when any one would.
            let timeUp = c.timeLimitSeconds.map { elapsed() - elapsedBefore + spentInThisInvocation >= $0 } ?? false
                || c.cpuBudgetSeconds.map { cpuSeconds() >= $0 } ?? false
            if context.anyProcess(timeUp) { reason = .timeLimit; break }
            if context.anyProcess(stop.isRequested) { reason = .interrupted; break }
            // A baseline whose line search can no longer move the parameters has converged as
            // far as it can go.
            if trainer.isStalled { reason = .converged; break }
            // A patience shortened on --resume may already have run out.
            if let p = monitor.patience, monitor.evaluationsSinceBest >= p { reason = .earlyStopping; break }

            let stepStart = clock.now
            trainer.progress = { stage, done, total in
                let d = (clock.now - stepStart).components
                events(.progress(stage: stage, done: done, total: total, seconds: Double(d.seconds) + Double(d.attoseconds) * 1e-18))
            }
            defer { trainer.progress = nil }
            let step: OptimizerStep
            do {
                step = try trainer.step()
            } catch let e as HessianFreeError {
                switch e {
                case .nonFiniteObjective, .nonFiniteGradient: reason = .diverged; divergence = "\(e)"; break loop
                default: throw e
                }
            } catch ObjectiveError.nonFiniteGradient {
                reason = .diverged; divergence = "the gradient is not finite at iteration \(trainer.iteration + 1)"; break loop
            }
            var flops = step.flops
            var objectiveValue = c.optimizer == .hf ? step.objective : Double.nan
            var trainError = Double.nan, testError: Double? = nil, validationError: Double? = nil
            let evaluationStart = elapsed()
            if trainer.iteration % c.evaluationInterval == 0 {
                let network = self.network
                if c.optimizer == .hf, let train = objective.lastEvaluationMetrics {
                    // HF ends each step with the full-data gradient at the new parameters, and
                    // that pass also measured the training error.
                    trainError = train.reconstructionError
                } else {
                    let train = try network.metrics(inputs: dataset.train, targets: trainTargets, chunkSize: c.chunkSize,
                                                    reducer: context.reducer)
                    trainError = train.reconstructionError
                    if c.optimizer != .hf { objectiveValue = train.loss + objective.regularization(at: trainer.parameters) }
                    flops += forwardFlops(c.architecture, cases: objective.caseCount)
                }
                // Test and validation sets are sharded like the training set; a split some
                // process holds cases of is evaluated by all (the sums are collective).
                if !c.testOnce && context.anyProcess(dataset.test.rows > 0) {
                    let test = try testMetrics(network)
                    testError = test.reconstructionError
                    flops += forwardFlops(c.architecture, cases: test.cases)
                }
                if context.anyProcess((dataset.validation?.rows ?? 0) > 0) {
                    // FACES holds people 26-30 out as a validation set (for early stopping).
                    let v = dataset.validation ?? Matrix(rows: 0, columns: dataset.dimension)
                    let validation = try network.metrics(inputs: v, targets: dataset.targets(.validation) ?? v,
                                                         chunkSize: c.chunkSize, reducer: context.reducer)
                    validationError = validation.reconstructionError
                    flops += forwardFlops(c.architecture, cases: validation.cases)
                }
            }
            let now = elapsed()
            let seconds = now - iterationStart
            iterationStart = now

            var metrics = MetricsRecord(
                iteration: trainer.iteration, seconds: now, trainLoss: objectiveValue, trainError: trainError,
                testError: testError, lambda: step.lambda, rho: step.rho,
                cgIterations: step.cgIterations, cgChosen: step.cgChosen,
                gradientEvaluations: step.gradientEvaluations, curvatureProducts: step.curvatureProducts,
                gflops: MetricsRecord.gflops(flops: flops, seconds: seconds))
            metrics.optimizer = c.optimizer.rawValue
            metrics.lineSearchRate = step.lineSearchRate
            metrics.cgStopReason = step.cgStopReason
            metrics.gradientNorm = step.gradientNorm
            metrics.validationError = validationError
            if let t = step.timings {
                metrics.gradientSeconds = t.gradient
                metrics.cgSeconds = t.conjugateGradient
                metrics.lineSearchSeconds = t.backtrackingAndLineSearch
            }
            metrics.evaluationSeconds = now - evaluationStart
            metrics.cpuSeconds = cpuSeconds()
            if step.nonFiniteDirection { metrics.nonFiniteDirection = true }
            metrics.modelChange = step.modelChange
            metrics.rhoFullData = step.fullDataRho
            metrics.ranks = context.rankCount
            if Self.isLogged(metrics, interval: c.logInterval) { try log?.append(metrics) }
            lastRecord = metrics
            events(.iteration(metrics))

            if Self.isMeasured(metrics) { lastMeasured = metrics }
            let observation = monitor.observe(metrics)
            if observation.isNewBest {
                try writeBest(metrics)
                if c.testOnce { bestParameters = trainer.parameters }
            }
            if trainer.iteration - lastCheckpointIteration >= c.checkpointInterval {
                try writeCheckpoint(elapsedSeconds: elapsed())
                lastCheckpointIteration = trainer.iteration
                events(.checkpoint(iteration: trainer.iteration))
            }
            // A first-order method's parameters can go non-finite (too large a learning rate);
            // HF never applies a non-finite step.
            if trainer.iteration % c.evaluationInterval == 0 && !trainError.isFinite {
                reason = .diverged; divergence = "the training error is not finite at iteration \(trainer.iteration)"; break
            }
            if let r = observation.stop { reason = r; break }
        }
        let total = elapsed()
        if trainer.iteration != lastCheckpointIteration || !FileManager.default.fileExists(atPath: folder.checkpoint.path) {
            try writeCheckpoint(elapsedSeconds: total)
            events(.checkpoint(iteration: trainer.iteration))
        }
        var summary = self.summary(stopReason: reason, seconds: total)
        if c.testOnce && reason != .interrupted, let e = try testErrorOnceAtBest() {
            summary.best?.testError = e
            summary.testMeasuredOnce = true
            events(.message(String(format: "test error at the best iteration (%d), measured once: %.4f", summary.bestIteration ?? -1, e)))
        }
        if context.writesFiles { try JSONFile.write(summary, to: folder.url.appendingPathComponent(TrainingSummary.fileName)) }
        elapsedBefore = total
        spentInThisInvocation = 0
        return TrainingOutcome(stopReason: reason, iterations: trainer.iteration, seconds: total, lastRecord: lastRecord,
                               summary: summary, divergence: divergence)
    }
}
