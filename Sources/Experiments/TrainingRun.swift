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
}

/// Why and where a run stopped.
public struct TrainingOutcome: Sendable {
    public var stopReason: String
    public var iterations: Int
    public var seconds: Double
    public var lastRecord: MetricsRecord?
}

/// The optimizer state a checkpoint stores besides the parameters (which, with the previous CG
/// direction, go to `parameters.safetensors` as raw Float bits, so a resume is bit-identical).
public struct TrainingCheckpointState: Codable, Sendable, Equatable {
    public var iteration: Int
    public var lambda: Double
    public var permutation: [Int]
    public var batchPosition: Int
    public var gradientEvaluations: Int
    public var valueEvaluations: Int
    public var curvatureProducts: Int
    public var conjugateGradientIterations: Int
    public var hasPreviousSolution: Bool
    /// Wall-clock seconds of the run so far, over all invocations.
    public var elapsedSeconds: Double
}

/// A training run bound to its run folder:
///
///     <folder>/config.json          the resolved ExperimentConfiguration
///     <folder>/metrics.jsonl        one MetricsRecord per iteration
///     <folder>/checkpoint/          parameters.safetensors + optimizer_state.json (atomic)
///     <folder>/reconstructions.png  test images above their reconstructions (auto-encoders)
///
/// `create` starts a new run, `resume` continues one from its last checkpoint; the resumed
/// trajectory is bit-identical to an uninterrupted one.
public final class TrainingRun {
    public let folder: RunFolder
    public let configuration: ExperimentConfiguration
    public let dataset: Dataset
    let objective: NeuralNetworkObjective<Float>
    let optimizer: HessianFreeOptimizer<Float>
    public private(set) var state: HessianFreeState<Float>
    /// Seconds spent by earlier invocations of this run.
    private var elapsedBefore: Double

    public static let parametersTensorPrefix = "layer"
    public static let previousDirectionTensor = "optimizer.previous_cg_direction"

    private init(folder: RunFolder, configuration: ExperimentConfiguration, dataset: Dataset,
                 state: HessianFreeState<Float>?, parameters: Vector<Float>?, elapsedBefore: Double) throws {
        try configuration.validate()
        self.folder = folder
        self.configuration = configuration
        self.dataset = dataset
        let architecture = configuration.architecture
        guard dataset.dimension == architecture.inputSize else {
            throw ExperimentError.invalid("the network's input layer has \(architecture.inputSize) units but data set '\(dataset.name)' has \(dataset.dimension) values per case")
        }
        let targets = dataset.targets(.train) ?? dataset.train
        guard targets.columns == architecture.outputSize else {
            throw ExperimentError.invalid("the network's output layer has \(architecture.outputSize) units but the training targets have \(targets.columns) values per case")
        }
        objective = try NeuralNetworkObjective(architecture: architecture, inputs: dataset.train, targets: targets,
                                               weightCost: configuration.weightCost,
                                               weightCostOnBiases: configuration.weightCostOnBiases,
                                               chunkSize: configuration.chunkSize)
        optimizer = try HessianFreeOptimizer<Float>(configuration: configuration.hessianFree)
        if let state {
            self.state = state
        } else {
            let theta = parameters ?? NeuralNetwork<Float>(architecture: architecture, initialization: configuration.initialization,
                                                           seed: configuration.seed).parameters
            self.state = try optimizer.initialState(parameters: theta, for: objective)
        }
        self.elapsedBefore = elapsedBefore
    }

    /// Starts a new run in `folder` (created; it must not already hold a run).
    public static func create(configuration: ExperimentConfiguration, folder url: URL, locations: DataLocations,
                              events: (TrainingEvent) -> Void = { _ in }) throws -> TrainingRun {
        try configuration.validate()
        let folder = RunFolder(url)
        if FileManager.default.fileExists(atPath: folder.configuration.path) {
            throw ExperimentError.invalid("\(url.path) already holds a run; use `hf train --resume \(url.path)` or another --out")
        }
        let dataset = try load(configuration, locations: locations, events: events)
        let run = try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, state: nil, parameters: nil, elapsedBefore: 0)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try folder.writeConfiguration(configuration)
        // A fresh metrics file (an empty one is fine for readers).
        try AtomicFile.write(Data(), to: folder.metrics)
        return run
    }

    /// Reopens the run in `folder` at its last checkpoint. `maximumIterations` and
    /// `timeLimitSeconds` may be changed (they do not alter the trajectory).
    public static func resume(folder url: URL, locations: DataLocations, maximumIterations: Int? = nil,
                              timeLimitSeconds: Double? = nil, events: (TrainingEvent) -> Void = { _ in }) throws -> TrainingRun {
        let folder = RunFolder(url)
        guard FileManager.default.fileExists(atPath: folder.configuration.path) else {
            throw ExperimentError.unreadableRun("\(url.path): not a run folder (no config.json)")
        }
        var configuration: ExperimentConfiguration
        do { configuration = try folder.readConfiguration(ExperimentConfiguration.self) }
        catch { throw ExperimentError.unreadableRun("\(folder.configuration.path): \(error)") }
        if let m = maximumIterations { configuration.maximumIterations = m }
        if let t = timeLimitSeconds { configuration.timeLimitSeconds = t }
        let dataset = try load(configuration, locations: locations, events: events)
        guard FileManager.default.fileExists(atPath: folder.checkpoint.path) else {
            // Interrupted before its first checkpoint: start over from the initialization.
            events(.message("no checkpoint in \(url.path) yet: starting from iteration 0"))
            try AtomicFile.write(Data(), to: folder.metrics)
            return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, state: nil, parameters: nil, elapsedBefore: 0)
        }
        let checkpoint: Checkpoint<TrainingCheckpointState>
        do { checkpoint = try Checkpoint<TrainingCheckpointState>.read(from: folder.checkpoint) }
        catch { throw ExperimentError.unreadableRun("\(folder.checkpoint.path): \(error)") }
        let saved = checkpoint.optimizerState
        let layout = configuration.architecture.layout
        let theta = try parametersVector(from: checkpoint.parameters, layout: layout, file: folder.checkpoint.path)
        var state = HessianFreeState(parameters: theta, caseCount: dataset.train.rows, configuration: configuration.hessianFree)
        guard saved.permutation.count == dataset.train.rows else {
            throw ExperimentError.unreadableRun("\(folder.checkpoint.path): checkpoint has \(saved.permutation.count) cases, data set has \(dataset.train.rows)")
        }
        state.lambda = saved.lambda
        state.permutation = saved.permutation
        state.batchPosition = saved.batchPosition
        state.iteration = saved.iteration
        state.gradientEvaluations = saved.gradientEvaluations
        state.valueEvaluations = saved.valueEvaluations
        state.curvatureProducts = saved.curvatureProducts
        state.conjugateGradientIterations = saved.conjugateGradientIterations
        if saved.hasPreviousSolution {
            guard let t = checkpoint.parameters[previousDirectionTensor], t.elementCount == layout.parameterCount else {
                throw ExperimentError.unreadableRun("\(folder.checkpoint.path): missing or malformed tensor \(previousDirectionTensor)")
            }
            state.previousSolution = Vector(t.floats())
        }
        // Metrics written after the checkpoint belong to iterations that will be recomputed.
        _ = try MetricsLog.truncate(folder.metrics, keepingIterationsThrough: saved.iteration)
        events(.message("resuming \(url.path) at iteration \(saved.iteration)"))
        return try TrainingRun(folder: folder, configuration: configuration, dataset: dataset, state: state,
                               parameters: nil, elapsedBefore: saved.elapsedSeconds)
    }

    private static func load(_ configuration: ExperimentConfiguration, locations: DataLocations,
                             events: (TrainingEvent) -> Void) throws -> Dataset {
        let clock = ContinuousClock(), start = clock.now
        events(.message("loading data set '\(configuration.data.dataset)'"))
        let dataset = try configuration.data.load(locations: locations, progress: nil)
        let s = (clock.now - start).components
        events(.message(String(format: "data: %d training and %d test cases of %d values (%.1f s)", dataset.train.rows,
                               dataset.test.rows, dataset.dimension, Double(s.seconds) + Double(s.attoseconds) * 1e-18)))
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
        try! NeuralNetwork(architecture: configuration.architecture, parameters: state.parameters)
    }

    /// Writes the checkpoint for the current state (atomically) and the reconstructions picture.
    public func writeCheckpoint(elapsedSeconds: Double) throws {
        var tensors = Self.parameterTensors(state.parameters, layout: configuration.architecture.layout)
        if let p = state.previousSolution {
            tensors.append(SafeTensor(name: Self.previousDirectionTensor, shape: [p.count], values: p.elements))
        }
        let saved = TrainingCheckpointState(
            iteration: state.iteration, lambda: state.lambda, permutation: state.permutation,
            batchPosition: state.batchPosition, gradientEvaluations: state.gradientEvaluations,
            valueEvaluations: state.valueEvaluations, curvatureProducts: state.curvatureProducts,
            conjugateGradientIterations: state.conjugateGradientIterations,
            hasPreviousSolution: state.previousSolution != nil, elapsedSeconds: elapsedSeconds)
        try Checkpoint(tensors: tensors, metadata: ["format": "hessianfree-checkpoint", "version": HessianFreeVersion.current,
                                                    "iteration": String(state.iteration)],
                       optimizerState: saved).write(to: folder.checkpoint)
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

    /// Forward flops (2mnk per product) of one pass over `cases` cases.
    private func forwardFlops(cases: Int) -> Double {
        configuration.architecture.layout.layers.reduce(0) { $0 + 2 * Double(cases) * Double($1.fanIn) * Double($1.fanOut) }
    }

    /// Runs iterations until the configuration's limits, a target, or `stop`.
    ///
    /// After each iteration the record goes to `metrics.jsonl` and to `events`; errors on the
    /// full training and test sets are computed every `evaluationInterval` iterations (NaN in
    /// between). A checkpoint is written every `checkpointInterval` iterations and at the end.
    @discardableResult
    public func run(stop: StopFlag = StopFlag(), events: (TrainingEvent) -> Void = { _ in }) throws -> TrainingOutcome {
        let c = configuration
        let log = try MetricsLog(appendingTo: folder.metrics)
        let clock = ContinuousClock(), start = clock.now
        func elapsed() -> Double {
            let d = (clock.now - start).components
            return elapsedBefore + Double(d.seconds) + Double(d.attoseconds) * 1e-18
        }
        let architecture = c.architecture
        let cases = dataset.train.rows
        let trainTargets = dataset.targets(.train) ?? dataset.train
        let testTargets = dataset.targets(.test) ?? dataset.test
        var lastRecord: MetricsRecord?
        var reason = "maximum-iterations"
        var lastCheckpointIteration = state.iteration
        var iterationStart = elapsed()

        while true {
            if let m = c.maximumIterations, state.iteration >= m { reason = "maximum-iterations"; break }
            if let t = c.timeLimitSeconds, elapsed() - elapsedBefore >= t { reason = "time-limit"; break }
            if stop.isRequested { reason = "interrupted"; break }

            let before = state
            let (next, record) = try optimizer.step(state, on: objective)
            state = next

            var trainError = Double.nan, testError: Double? = nil
            if state.iteration % c.evaluationInterval == 0 {
                let network = self.network
                trainError = try network.metrics(inputs: dataset.train, targets: trainTargets, chunkSize: c.chunkSize).reconstructionError
                if dataset.test.rows > 0 {
                    testError = try network.metrics(inputs: dataset.test, targets: testTargets, chunkSize: c.chunkSize).reconstructionError
                }
            }
            let now = elapsed()
            // The iteration's arithmetic, counted from its passes: full-data gradients, curvature
            // products on the batch, objective evaluations (one on the batch for rho, the others
            // on the full data for backtracking and the line search), the batch linearization,
            // and the error passes.
            let k = record.curvatureBatchSize
            var flops = Double(state.gradientEvaluations - before.gradientEvaluations) * architecture.gradientFlops(cases: cases)
            flops += Double(state.curvatureProducts - before.curvatureProducts) * architecture.gaussNewtonProductFlops(cases: k)
            let values = state.valueEvaluations - before.valueEvaluations
            flops += Double(max(values - 1, 0)) * forwardFlops(cases: cases) + forwardFlops(cases: k) * (values > 0 ? 2 : 1)
            if !trainError.isNaN { flops += forwardFlops(cases: cases + dataset.test.rows) }
            let seconds = now - iterationStart
            iterationStart = now

            var metrics = MetricsRecord(
                iteration: state.iteration, seconds: now, trainLoss: record.objectiveAfter, trainError: trainError,
                testError: testError, lambda: record.lambdaAfter, rho: record.reductionRatio,
                cgIterations: record.conjugateGradientIterations, cgChosen: record.chosenIterate,
                gradientEvaluations: state.gradientEvaluations, curvatureProducts: state.curvatureProducts,
                gflops: MetricsRecord.gflops(flops: flops, seconds: seconds))
            metrics.optimizer = c.optimizer.rawValue
            metrics.lineSearchRate = record.lineSearchRate
            metrics.cgStopReason = record.conjugateGradientTermination.rawValue
            metrics.gradientNorm = record.gradientNormAfter
            try log.append(metrics)
            lastRecord = metrics
            events(.iteration(metrics))

            if state.iteration - lastCheckpointIteration >= c.checkpointInterval {
                try writeCheckpoint(elapsedSeconds: elapsed())
                lastCheckpointIteration = state.iteration
                events(.checkpoint(iteration: state.iteration))
            }
        }
        let total = elapsed()
        if state.iteration != lastCheckpointIteration || !FileManager.default.fileExists(atPath: folder.checkpoint.path) {
            try writeCheckpoint(elapsedSeconds: total)
            events(.checkpoint(iteration: state.iteration))
        }
        elapsedBefore = total
        return TrainingOutcome(stopReason: reason, iterations: state.iteration, seconds: total, lastRecord: lastRecord)
    }
}
