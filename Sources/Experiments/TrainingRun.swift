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
    /// One optimizer iteration finished; the record is already in `metrics.jsonl`.
    case iteration(MetricsRecord)
    /// A checkpoint was written for this iteration.
    case checkpoint(iteration: Int)
    /// Progress inside a long step: `done` of at most `total` units of `stage` (CG products).
    case progress(stage: String, done: Int, total: Int, seconds: Double)
}

/// Why and where a run stopped.
public struct TrainingOutcome: Sendable {
    public var stopReason: String
    public var iterations: Int
    public var seconds: Double
    public var lastRecord: MetricsRecord?
}

/// A training run bound to its run folder:
///
///     <folder>/config.json          the resolved ExperimentConfiguration
///     <folder>/metrics.jsonl        one MetricsRecord per iteration
///     <folder>/checkpoint/          parameters.safetensors + optimizer_state.json (atomic)
///     <folder>/reconstructions.png  test images above their reconstructions (auto-encoders)
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

    public static let parametersTensorPrefix = "layer"
    public static let pretrainedFileName = "pretrained.safetensors"

    /// Optimizer iterations completed.
    public var iteration: Int { trainer.iteration }
    /// The current parameters.
    public var parameters: Vector<Float> { trainer.parameters }

    private init(folder: RunFolder, configuration c: ExperimentConfiguration, dataset: Dataset, parameters: Vector<Float>,
                 saved: SavedOptimizerState?, tensors: SafeTensorsFile?, elapsedBefore: Double, context: RunContext) throws {
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
                                        parameters, seed, saved, saved?.sgd) { $1.sgd = $0 }
        case .adam:
            trainer = try Self.baseline(.adam, Adam<Float>(configuration: c.baselines.adam), objective,
                                        parameters, seed, saved, saved?.adam) { $1.adam = $0 }
        case .ncg:
            trainer = try Self.baseline(.ncg, NonlinearConjugateGradient<Float>(configuration: c.baselines.ncg), objective,
                                        parameters, seed, saved, saved?.ncg) { $1.ncg = $0 }
        case .lbfgs:
            trainer = try Self.baseline(.lbfgs, LBFGS<Float>(configuration: c.baselines.lbfgs), objective,
                                        parameters, seed, saved, saved?.lbfgs) { $1.lbfgs = $0 }
        }
        self.elapsedBefore = elapsedBefore
        spentInThisInvocation = saved == nil ? elapsedBefore : 0
    }

    /// A baseline trainer, from its saved state (which must be there when the checkpoint says
    /// it is this optimizer's) or fresh at `parameters`.
    private static func baseline<O: FirstOrderOptimizer>(
        _ kind: OptimizerKind, _ optimizer: O, _ objective: NeuralNetworkObjective<Float>, _ parameters: Vector<Float>,
        _ seed: UInt64, _ saved: SavedOptimizerState?, _ state: O.State?,
        store: @escaping (O.State, inout SavedOptimizerState) -> Void
    ) throws -> BaselineTrainer<O> where O.Scalar == Float {
        if saved != nil && state == nil {
            throw ExperimentError.unreadableRun("checkpoint holds no state for optimizer '\(kind.rawValue)'")
        }
        let s = state ?? optimizer.makeState(parameters: parameters, caseCount: objective.caseCount, seed: seed)
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
    public static func create(configuration: ExperimentConfiguration, folder url: URL, locations: DataLocations,
                              events: (TrainingEvent) -> Void = { _ in }, context: RunContext = .single) throws -> TrainingRun {
        try configuration.validate()
        let folder = RunFolder(url)
        if FileManager.default.fileExists(atPath: folder.configuration.path) {
            throw ExperimentError.invalid("\(url.path) already holds a run; use `hf train --resume \(url.path)` or another --out")
        }
        let dataset = try load(configuration, locations: locations, events: events, context: context)
        // Checks shapes before anything is written; in a data-parallel run this is also the
        // point every process passes (a sum) before rank 0 creates the folder.
        _ = try makeObjective(configuration, dataset, context)
        if context.writesFiles {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try folder.writeConfiguration(configuration)
            try AtomicFile.write(Data(), to: folder.metrics)
        }
        let (theta, seconds) = try initialParameters(configuration, dataset: dataset, folder: folder, events: events, context: context)
        return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                               saved: nil, tensors: nil, elapsedBefore: seconds, context: context)
    }

    /// The parameters a new run starts from, and the seconds spent making them (pre-training).
    static func initialParameters(_ c: ExperimentConfiguration, dataset: Dataset, folder: RunFolder,
                                  events: (TrainingEvent) -> Void, context: RunContext = .single) throws -> (Vector<Float>, Double) {
        let layout = c.architecture.layout
        if let path = c.initialParameters {
            let file: SafeTensorsFile
            do { file = try SafeTensors.read(from: URL(fileURLWithPath: path)) }
            catch { throw ExperimentError.unreadableRun("\(path): \(error)") }
            // Weights from `pretrained.safetensors` keep their pre-training time on the run's
            // clock (Figure 2 includes pre-training time), so runs that share one pre-training
            // are compared fairly.
            let seconds = file.metadata["pretraining_seconds"].flatMap(Double.init) ?? 0
            if seconds > 0 { events(.message(String(format: "%@ took %.1f s of pre-training; counted in this run's time", path, seconds))) }
            return (try parametersVector(from: file, layout: layout, file: path), seconds)
        }
        guard let p = c.pretraining else {
            return (NeuralNetwork<Float>(architecture: c.architecture, initialization: c.initialization, seed: c.seed).parameters, 0)
        }
        let saved = folder.url.appendingPathComponent(pretrainedFileName)
        if FileManager.default.fileExists(atPath: saved.path) {
            let file = try SafeTensors.read(from: saved)
            events(.message("using the pre-trained weights in \(saved.path)"))
            return (try parametersVector(from: file, layout: layout, file: saved.path),
                    Double(file.metadata["pretraining_seconds"] ?? "0") ?? 0)
        }
        // RBM pre-training is sequential over all training cases (CD-1 mini-batches), so
        // its weights come from one process; a data-parallel run starts from them.
        guard context.rankCount == 1 else {
            throw ExperimentError.invalid("--init pretrained runs in one process: pre-train with `hf train --init pretrained --max-iterations 0`, then start the parallel run with --init-from <run>/\(pretrainedFileName)")
        }
        let clock = ContinuousClock(), start = clock.now
        let theta = try Pretraining.pretrain(c.architecture, specification: p, data: dataset.train, events: events)
        let seconds = Double((clock.now - start).components.seconds) + Double((clock.now - start).components.attoseconds) * 1e-18
        try SafeTensors.write(parameterTensors(theta, layout: layout),
                              metadata: ["format": "hessianfree-parameters", "pretraining_seconds": String(seconds)], to: saved)
        events(.message(String(format: "pre-training took %.1f s; weights in %@", seconds, saved.path)))
        return (theta, seconds)
    }

    /// Reopens the run in `folder` at its last checkpoint. `maximumIterations` and
    /// `timeLimitSeconds` may be changed (they do not alter the trajectory).
    public static func resume(folder url: URL, locations: DataLocations, maximumIterations: Int? = nil,
                              timeLimitSeconds: Double? = nil, events: (TrainingEvent) -> Void = { _ in },
                              context: RunContext = .single) throws -> TrainingRun {
        let folder = RunFolder(url)
        guard FileManager.default.fileExists(atPath: folder.configuration.path) else {
            throw ExperimentError.unreadableRun("\(url.path): not a run folder (no config.json)")
        }
        var configuration: ExperimentConfiguration
        do { configuration = try folder.readConfiguration(ExperimentConfiguration.self) }
        catch { throw ExperimentError.unreadableRun("\(folder.configuration.path): \(error)") }
        if let m = maximumIterations { configuration.maximumIterations = m }
        if let t = timeLimitSeconds { configuration.timeLimitSeconds = t }
        try configuration.validate()
        let dataset = try load(configuration, locations: locations, events: events, context: context)
        guard FileManager.default.fileExists(atPath: folder.checkpoint.path) else {
            // Interrupted before its first checkpoint: start over (pre-trained weights are kept).
            events(.message("no checkpoint in \(url.path) yet: starting from iteration 0"))
            if context.writesFiles { try AtomicFile.write(Data(), to: folder.metrics) }
            let (theta, seconds) = try initialParameters(configuration, dataset: dataset, folder: folder, events: events, context: context)
            return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                                   saved: nil, tensors: nil, elapsedBefore: seconds, context: context)
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
        events(.message("resuming \(url.path) at iteration \(saved.iteration)"))
        do {
            return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, parameters: theta,
                                   saved: saved, tensors: checkpoint.parameters, elapsedBefore: saved.elapsedSeconds,
                                   context: context)
        } catch let e as ExperimentError {
            throw ExperimentError.unreadableRun("\(folder.checkpoint.path): \(e)")
        }
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
                       optimizerState: trainer.saved(elapsedSeconds: elapsedSeconds)).write(to: folder.checkpoint)
        try writeReconstructions()
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

    /// Runs iterations until the configuration's limits, a stalled optimizer, or `stop`.
    ///
    /// After each iteration the record goes to `metrics.jsonl` and to `events`; errors on the
    /// full training and test sets are computed every `evaluationInterval` iterations (NaN in
    /// between). A checkpoint is written every `checkpointInterval` iterations and at the end.
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
        let testTargets = dataset.targets(.test) ?? dataset.test
        var lastRecord: MetricsRecord?
        var reason = "maximum-iterations"
        var lastCheckpointIteration = trainer.iteration
        var iterationStart = elapsed()

        while true {
            if let m = c.maximumIterations, trainer.iteration >= m { reason = "maximum-iterations"; break }
            // Clocks and signals differ between processes: all stop when any one would.
            let timeUp = c.timeLimitSeconds.map { elapsed() - elapsedBefore + spentInThisInvocation >= $0 } ?? false
            if context.anyProcess(timeUp) { reason = "time-limit"; break }
            if context.anyProcess(stop.isRequested) { reason = "interrupted"; break }
            if trainer.isStalled { reason = "stalled"; break }

            let stepStart = clock.now
            trainer.progress = { stage, done, total in
                let d = (clock.now - stepStart).components
                events(.progress(stage: stage, done: done, total: total, seconds: Double(d.seconds) + Double(d.attoseconds) * 1e-18))
            }
            let step = try trainer.step()
            trainer.progress = nil
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
                if context.anyProcess(dataset.test.rows > 0) {
                    let test = try network.metrics(inputs: dataset.test, targets: testTargets, chunkSize: c.chunkSize,
                                                   reducer: context.reducer)
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
            metrics.ranks = context.rankCount
            try log?.append(metrics)
            lastRecord = metrics
            events(.iteration(metrics))

            if trainer.iteration - lastCheckpointIteration >= c.checkpointInterval {
                try writeCheckpoint(elapsedSeconds: elapsed())
                lastCheckpointIteration = trainer.iteration
                events(.checkpoint(iteration: trainer.iteration))
            }
        }
        let total = elapsed()
        if trainer.iteration != lastCheckpointIteration || !FileManager.default.fileExists(atPath: folder.checkpoint.path) {
            try writeCheckpoint(elapsedSeconds: total)
            events(.checkpoint(iteration: trainer.iteration))
        }
        elapsedBefore = total
        spentInThisInvocation = 0
        return TrainingOutcome(stopReason: reason, iterations: trainer.iteration, seconds: total, lastRecord: lastRecord)
    }
}
