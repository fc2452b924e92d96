import ArgumentParser
import Foundation
import Datasets
import Experiments
import LinearAlgebra
import NeuralNetworks
import Optimization
import Reporting

/// Console output of the tool: results to stdout, progress and errors to stderr.
enum Console {
    static func error(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    /// One line to stdout, unbuffered (progress must show at once, also through a pipe).
    static func line(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

    /// One line for any error: the library's typed errors describe themselves; Foundation's
    /// file errors become their POSIX reason (never an NSError dump).
    static func oneLine(_ error: Error) -> String { ReportingError.reason(error) }
}

/// A failure the tool itself words (exit status 1), e.g. naming the flag behind a path.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Scaling {
    /// `--scale` in every command: 'none' or a positive number to divide the values by.
    static func option(_ text: String) throws -> Scaling {
        guard let s = Scaling(argument: text) else {
            throw ValidationError("give 'none' or a positive number to divide by (e.g. 255)")
        }
        return s
    }

    /// The divisor a `DataSpecification` stores (nil for none).
    var divisor: Float? { if case .divide(let d) = self { return d } else { return nil } }
}

/// Installs SIGINT/SIGTERM handlers that ask the run to stop at the next iteration boundary
/// (it then writes a checkpoint); a second signal exits at once, leaving the last checkpoint.
final class SignalStopper {
    private var sources: [DispatchSourceSignal] = []
    let flag = StopFlag()

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [flag] in
                if flag.isRequested {
                    Console.error("hf: stopping now (the last checkpoint is kept)")
                    // _exit, not exit: exit runs atexit handlers (OpenBLAS waits there for its
                    // busy worker threads), which kept a CG run computing for many seconds.
                    // Checkpoints are written atomically, so the last complete one stays.
                    _exit(130)
                }
                Console.error("\nhf: stopping after this iteration and writing a checkpoint (signal again to quit now)")
                flag.request()
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// Options shared by the commands that read data.
struct DataOptions: ParsableArguments {
    @Option(help: "Folder with the source data (mnist/, att_faces/). Default: $HF_DATA_DIR, else ../shared/data.")
    var dataDir: String?

    @Option(help: "Folder for generated data (CURVES, FACES). Default: $HF_CACHE_DIR, else ~/.cache/hessianfree.")
    var cacheDir: String?

    var locations: DataLocations { DataLocations.resolve(dataDirectory: dataDir, cacheDirectory: cacheDir) }
}

/// How a run reports progress: one line per iteration on stdout, messages on stderr, and on
/// a terminal a progress bar (stderr) through the CG run of a long iteration.
final class ProgressPrinter {
    let quiet: Bool
    let json: Bool
    private let showsBar = isatty(STDERR_FILENO) != 0
    private var barShown = false

    init(quiet: Bool, json: Bool) { self.quiet = quiet; self.json = json }

    private func clearBar() {
        if barShown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)); barShown = false }
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .message(let m):
            clearBar()
            if !quiet { Console.error("hf: \(m)") }
        case .iteration(let r):
            clearBar()
            if json {
                if let line = try? MetricsLog.line(for: r) { Console.line(line) }
            } else if !quiet && ProgressLine.isShown(r) {
                Console.line(ProgressLine.format(r))
            }
        case .checkpoint(let i):
            clearBar()
            if !quiet && !json { Console.error("hf: checkpoint at iteration \(i)") }
        case .progress(let stage, let done, let total, let seconds):
            guard showsBar, !quiet, seconds >= 2 else { return }
            // CG usually stops well before its maximum, so no time-left estimate: the bar is
            // against the maximum number of products, with the time spent in this iteration.
            let bar = ProgressBar.render(completed: done, total: total, width: 30, label: "\(stage) products (of at most)")
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + bar + String(format: "  %.0f s", seconds)).utf8))
            barShown = true
        }
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a network with Hessian-free optimization; writes a run folder that can be resumed.",
        discussion: """
        Presets reproduce Table 1 of Martens (2010): curves, mnist, faces, and the l2 variants \
        mnist-l2 and faces-l2. Every setting can be overridden by a flag. The run folder holds \
        config.json, metrics.jsonl, checkpoint/ and reconstructions.png; `hf train --resume DIR` \
        continues it, `hf report DIR --out R` draws it.
        """)

    @Option(help: "One of: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: String?

    @Option(name: .customLong("resume"), help: "Continue the run in this folder from its last checkpoint.")
    var resumeFolder: String?

    @Option(help: "Run folder (default runs/<preset>-<timestamp>).")
    var out: String?

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Training inputs (.npy or .csv) for your own data.")
    var data: String?
    @Option(help: "Training targets (.npy or .csv); without them the net is an auto-encoder.")
    var targets: String?
    @Option(help: "Test inputs (.npy or .csv).")
    var testData: String?
    @Option(help: "Test targets (.npy or .csv).")
    var testTargets: String?
    @Option(help: "Divide your files' values by this number (e.g. 255), or 'none'.", transform: Scaling.option)
    var scale: Scaling?
    @Option(help: "Validation inputs (.npy or .csv), for early stopping and choosing best/.")
    var validationData: String?
    @Option(help: "Validation targets (.npy or .csv).")
    var validationTargets: String?
    @Option(help: "Hold the last K training cases out as the validation set (e.g. 10000 for MNIST).")
    var validationSplit: Int?
    @Option(help: "Version of the CURVES look-alike (docs/datasets.md): 2 (default) or 1, the data of runs made before version 2.")
    var curvesRecipe: Int?

    @Option(help: "Layer sizes, input to output, e.g. 784-1000-500-250-30 (with --mirror: the encoder).")
    var layers: String?
    @Flag(help: "Mirror --layers into a symmetric auto-encoder.")
    var mirror = false
    @Option(help: "Activation of every layer, comma-separated (logistic, tanh, linear, relu, softmax).")
    var activations: String?
    @Option(help: "Hidden-unit activation (default logistic).")
    var hidden: Activation?
    @Option(help: "Code-layer activation with --mirror (default linear).")
    var code: Activation?
    @Option(help: "Output activation (default: logistic, or linear for FACES).")
    var output: Activation?

    @Option(help: "Optimizer: hf (default), ncg (H&S fine-tuning), sgd, adam or lbfgs.")
    var optimizer: OptimizerKind?
    @Option(name: .customLong("init"), help: "Initialization: sparse (Martens, 15 connections), dense, or pretrained (RBMs, H&S 2006).")
    var initialization: String?
    @Option(help: "Epochs of CD-1 per RBM with --init pretrained (H&S: 50).")
    var pretrainEpochs: Int?
    @Option(help: "Start from these weights (safetensors: a run's pretrained.safetensors or checkpoint/parameters.safetensors).")
    var initFrom: String?
    @Option(help: "Learning rate of sgd/adam.")
    var learningRate: Double?
    @Option(help: "Momentum of sgd (0.9).")
    var momentum: Double?
    @Flag(help: "Nesterov momentum for sgd.")
    var nesterov = false
    @Option(help: "Learning-rate schedule of sgd/adam: constant, step:FACTOR:EVERY (multiply by FACTOR every EVERY steps) or inverse:DECAY (rate / (1 + DECAY t)).")
    var lrSchedule: String?
    @Option(help: "Mini-batch size of sgd/adam, cases per line-search batch of ncg (1000).")
    var minibatchSize: Int?
    @Option(help: "Seed of the initialization.")
    var seed: UInt64?
    @Option(help: "l2 weight cost c: objective = mean loss + c/2 |theta|^2 (Martens' code: 2e-5).")
    var weightCost: Double?
    @Flag(help: "Leave biases out of the weight cost.")
    var noBiasWeightCost = false

    @Option(help: "Curvature matrix: gauss-newton, hessian, fisher or finite-difference.")
    var curvature: CurvatureKind?
    @Option(help: "Curvature mini-batch size K (fixed).")
    var batchSize: Int?
    @Option(help: "Maximum CG iterations per HF iteration (250).")
    var maxCgIterations: Int?
    @Option(help: "Initial damping lambda (45).")
    var initialLambda: Double?
    @Option(help: "Lower bound for lambda (0: none, as in Martens' code).")
    var lambdaFloor: Double?
    @Option(help: "Warm-start decay of the previous CG solution (0.95; 0 = cold start).")
    var warmStartDecay: Double?
    @Flag(help: "Turn the diagonal preconditioner off.")
    var noPreconditioner = false
    @Flag(help: "Turn CG-iterate backtracking off.")
    var noBacktracking = false
    @Flag(help: "Turn the line search after CG off.")
    var noLineSearch = false
    @Flag(help: "Keep lambda fixed (no Levenberg-Marquardt adjustment).")
    var noDamping = false
    @Option(help: "CG stopping rule: relative-progress (Martens) or residual.")
    var cgStopping: ConjugateGradientStoppingRule?
    @Option(help: "Data the reduction ratio rho (which moves lambda) is measured on: curvature-batch (Martens' code) or full-data (the whole training set; costs nothing extra, the line search evaluates it anyway). metrics.jsonl logs both as rho and rho_full_data.")
    var rhoData: EvaluationData?

    @Option(help: "Stop after this many HF iterations in total.")
    var maxIterations: Int?
    @Option(help: "Stop this invocation after this many seconds.")
    var timeLimit: Double?
    @Option(help: "Stop once the run has used this many CPU seconds in all (over resumes, pre-training included): equal cost for every optimizer.")
    var cpuBudget: Double?
    @Option(help: "Stop after N evaluations in a row without a new best validation error (needs validation data).")
    var earlyStopping: Int?
    @Option(help: "The paper's protocol on data with no validation set: stop after N evaluations in a row without a new best test error (the best iteration is then chosen on test data, as Table 2's were; stop_reason early-stopping, selected_by test).")
    var paperStyleStop: Int?
    @Flag(help: "Keep the test set out of the run: choose the best iteration on validation data alone and measure its test error once, when the run stops (summary.json's best.test_error, test_measured_once). Needs validation data.")
    var testOnce = false
    @Option(help: "Convergence rule: stop when the training objective fell by less than --convergence-tolerance (relative) over this many evaluations (20).")
    var convergenceWindow: Int?
    @Option(help: "Relative tolerance of the convergence rule (1e-5; 0 turns it off).")
    var convergenceTolerance: Double?
    @Option(help: "Compute train/test errors every N iterations (1).")
    var evaluationInterval: Int?
    @Option(help: "Write a checkpoint every N iterations (5).")
    var checkpointInterval: Int?
    @Option(help: "Write a metrics.jsonl record every N iterations (1; 10 for sgd, adam and ncg); iterations with measured errors are always written.")
    var logInterval: Int?
    @Option(help: "Cases per chunk of full-data passes (2500).")
    var chunkSize: Int?
    @Option(help: "Compute threads: OpenBLAS's and the elementwise kernels' (default: all cores).")
    var threads: Int?

    @Flag(help: "Print nothing but errors.")
    var quiet = false
    @Flag(help: "Print one JSON object per iteration on stdout.")
    var json = false

    /// Checked at the start of `run` rather than in `validate`, so that an unknown option is
    /// reported as such before any complaint about the options given.
    func checkArguments() throws {
        if resumeFolder != nil {
            // Only what does not change the trajectory: budgets, output, threads and where the
            // (same) data now lives.
            let fixed: [(String, Bool)] = [
                ("--preset", preset != nil), ("--out", out != nil), ("--scale", scale != nil), ("--layers", layers != nil),
                ("--mirror", mirror), ("--activations", activations != nil), ("--hidden", hidden != nil), ("--code", code != nil),
                ("--output", output != nil), ("--optimizer", optimizer != nil), ("--init", initialization != nil),
                ("--pretrain-epochs", pretrainEpochs != nil), ("--init-from", initFrom != nil),
                ("--learning-rate", learningRate != nil), ("--momentum", momentum != nil), ("--nesterov", nesterov),
                ("--lr-schedule", lrSchedule != nil), ("--minibatch-size", minibatchSize != nil), ("--seed", seed != nil),
                ("--weight-cost", weightCost != nil), ("--no-bias-weight-cost", noBiasWeightCost),
            ] + hessianFreeOptions + [
                ("--evaluation-interval", evaluationInterval != nil), ("--chunk-size", chunkSize != nil),
                ("--validation-data", validationData != nil), ("--validation-targets", validationTargets != nil),
                ("--validation-split", validationSplit != nil), ("--curves-recipe", curvesRecipe != nil),
                ("--test-once", testOnce),
            ]
            if let (name, _) = fixed.first(where: { $0.1 }) {
                throw ValidationError("\(name) cannot be changed on --resume (the run continues as configured in its config.json); only the stopping rules (--max-iterations, --time-limit, --cpu-budget, --early-stopping, --paper-style-stop, --convergence-window, --convergence-tolerance), --checkpoint-interval, --log-interval, --threads, --quiet, --json and data locations (--data, --targets, --test-data, --test-targets, --data-dir, --cache-dir) may be given")
            }
        } else if preset == nil && data == nil {
            throw ValidationError("give --preset (\(Preset.allCases.map(\.rawValue).joined(separator: ", "))) or --data FILE")
        }
        if let p = preset, Preset(rawValue: p) == nil {
            throw ValidationError("unknown preset '\(p)'; choose one of \(Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if preset != nil && data != nil { throw ValidationError("--preset and --data exclude each other") }
        if data == nil && (targets != nil || testData != nil || testTargets != nil || validationData != nil) {
            throw ValidationError("--targets, --test-data, --test-targets and --validation-data need --data")
        }
        if preset != nil && scale != nil { throw ValidationError("--scale applies to --data files, not to --preset data sets") }
        if let v = curvesRecipe {
            guard preset.flatMap(Preset.init(rawValue:))?.benchmark == .curves else {
                throw ValidationError("--curves-recipe applies to the CURVES presets only")
            }
            do { _ = try Curves.Recipe.version(v) } catch { throw ValidationError("--curves-recipe: \(error)") }
        }
        try checkRanges()
        if resumeFolder == nil { try checkOptionsApply(to: optimizer ?? .hf) }
    }

    /// The options only Hessian-free optimization reads, and whether each was given.
    var hessianFreeOptions: [(String, Bool)] {
        [("--curvature", curvature != nil), ("--batch-size", batchSize != nil), ("--max-cg-iterations", maxCgIterations != nil),
         ("--initial-lambda", initialLambda != nil), ("--lambda-floor", lambdaFloor != nil),
         ("--warm-start-decay", warmStartDecay != nil), ("--no-preconditioner", noPreconditioner),
         ("--no-backtracking", noBacktracking), ("--no-line-search", noLineSearch), ("--no-damping", noDamping),
         ("--cg-stopping", cgStopping != nil), ("--rho-data", rhoData != nil)]
    }

    /// Options that the chosen optimizer would ignore are refused, naming the option.
    func checkOptionsApply(to kind: OptimizerKind) throws {
        var given: [(String, Bool, [OptimizerKind])] = hessianFreeOptions.map { ($0.0, $0.1, [.hf]) }
        given += [("--learning-rate", learningRate != nil, [.sgd, .adam]), ("--lr-schedule", lrSchedule != nil, [.sgd, .adam]),
                  ("--momentum", momentum != nil, [.sgd]), ("--nesterov", nesterov, [.sgd]),
                  ("--minibatch-size", minibatchSize != nil, [.sgd, .adam, .ncg])]
        for (name, isGiven, kinds) in given where isGiven && !kinds.contains(kind) {
            let names = kinds.map(\.rawValue).joined(separator: " or ")
            throw ValidationError("\(name) applies only to --optimizer \(names), not to \(kind.rawValue); leave it out or choose --optimizer \(kinds[0].rawValue)")
        }
    }

    /// Every number a flag gives is in range, before any file is read or folder made.
    func checkRanges() throws {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw ValidationError(message()) }
        }
        if let m = maxIterations { try check(m >= 0, "--max-iterations must be >= 0, got \(m)") }
        if let t = timeLimit { try check(t > 0 && t.isFinite, "--time-limit must be a positive number of seconds, got \(t)") }
        if let t = cpuBudget { try check(t > 0 && t.isFinite, "--cpu-budget must be a positive number of CPU seconds, got \(t)") }
        if let w = weightCost { try check(w >= 0 && w.isFinite, "--weight-cost must be >= 0, got \(w)") }
        if let k = batchSize { try check(k > 0, "--batch-size must be positive, got \(k)") }
        if let m = maxCgIterations { try check(m >= 1, "--max-cg-iterations must be >= 1, got \(m)") }
        if let l = initialLambda {
            if noDamping {
                try check(l >= 0 && l.isFinite, "--initial-lambda must be >= 0, got \(l)")
            } else {
                try check(l > 0 && l.isFinite, "--initial-lambda must be > 0 (a lambda of 0 can never grow again), got \(l); use --no-damping for a fixed lambda")
            }
        }
        if let l = lambdaFloor { try check(l >= 0 && l.isFinite, "--lambda-floor must be >= 0, got \(l)") }
        if let d = warmStartDecay { try check(d >= 0 && d <= 1, "--warm-start-decay must lie in [0, 1], got \(d)") }
        if let e = evaluationInterval { try check(e > 0, "--evaluation-interval must be positive, got \(e)") }
        if let k = checkpointInterval { try check(k > 0, "--checkpoint-interval must be positive, got \(k)") }
        if let k = logInterval { try check(k > 0, "--log-interval must be positive, got \(k)") }
        if let s = chunkSize { try check(s > 0, "--chunk-size must be positive, got \(s)") }
        if let t = threads { try check(t >= 1, "--threads must be >= 1, got \(t)") }
        if let r = learningRate { try check(r > 0 && r.isFinite, "--learning-rate must be positive, got \(r)") }
        if let m = momentum { try check(m >= 0 && m < 1, "--momentum must lie in [0, 1), got \(m)") }
        if let b = minibatchSize { try check(b > 0, "--minibatch-size must be positive, got \(b)") }
        if let e = pretrainEpochs { try check(e >= 0, "--pretrain-epochs must be >= 0, got \(e)") }
        if let p = earlyStopping { try check(p >= 1, "--early-stopping must be >= 1 evaluation, got \(p)") }
        if let p = paperStyleStop { try check(p >= 1, "--paper-style-stop must be >= 1 evaluation, got \(p)") }
        if let k = validationSplit { try check(k >= 1, "--validation-split must be >= 1 case, got \(k)") }
        if let w = convergenceWindow { try check(w >= 1, "--convergence-window must be >= 1, got \(w)") }
        if let t = convergenceTolerance {
            try check(t >= 0 && t.isFinite, "--convergence-tolerance must be >= 0 (0 turns the rule off), got \(t)")
        }
    }

    /// The configuration the flags describe.
    func resolvedConfiguration() throws -> ExperimentConfiguration {
        var c: ExperimentConfiguration
        if let p = preset.flatMap(Preset.init(rawValue:)) {
            c = p.configuration()
        } else {
            guard let layers else { throw ValidationError("--data needs --layers (e.g. --layers 784-100-30 --mirror)") }
            let data = DataSpecification(dataset: "files", trainInputs: data, trainTargets: targets, testInputs: testData,
                                         testTargets: testTargets, divideBy: scale?.divisor)
            var hf = HessianFreeConfiguration()
            hf.curvatureBatches = .fullData
            c = ExperimentConfiguration(preset: "custom", data: data, architecture: try parseArchitecture(layers, mirrored: mirror),
                                        hessianFree: hf)
        }
        if let p = preset.flatMap(Preset.init(rawValue:)),
           layers != nil || activations != nil || hidden != nil || code != nil || output != nil {
            // Without --layers, a preset's own encoder is mirrored (keeping its linear code layer).
            let encoder = p.benchmark.table1.encoder.map(String.init).joined(separator: "-")
            c.architecture = try parseArchitecture(layers ?? encoder, mirrored: layers == nil ? true : mirror,
                                                   defaultOutput: c.architecture.activations.last!)
        }
        if let i = initialization {
            switch i {
            case "sparse": c.initialization = .martens
            case "dense": c.initialization = .dense(scale: 1)
            case "pretrained": c.pretraining = PretrainingSpecification(seed: seed ?? c.seed)
            default: throw ValidationError("--init must be sparse, dense or pretrained, got '\(i)'")
            }
        }
        if let e = pretrainEpochs {
            guard c.pretraining != nil else { throw ValidationError("--pretrain-epochs needs --init pretrained") }
            guard e >= 0 else { throw ValidationError("--pretrain-epochs must be >= 0, got \(e)") }
            c.pretraining!.rbm.epochs = e
        }
        if let f = initFrom { c.initialParameters = f }
        if let o = optimizer {
            c.optimizer = o
            if o != .hf {
                // A baseline step is one mini-batch update or line search: evaluate and save
                // less often, and let the budget (--time-limit, --max-iterations) decide the length.
                c.evaluationInterval = o == .lbfgs ? 1 : 50
                c.checkpointInterval = o == .lbfgs ? 5 : 500
                // A record of about 430 bytes per mini-batch: 60 MB for a day of Adam on MNIST.
                c.logInterval = o == .lbfgs ? 1 : 10
                if preset != nil { c.maximumIterations = nil }
            }
        }
        if let r = learningRate {
            guard r > 0 else { throw ValidationError("--learning-rate must be positive, got \(r)") }
            c.baselines.sgd.learningRate = r; c.baselines.adam.learningRate = r
        }
        if let m = momentum { c.baselines.sgd.momentum = m }
        if let text = lrSchedule {
            let parts = text.split(separator: ":").map(String.init)
            let schedule: LearningRateSchedule
            switch (parts.first, parts.count) {
            case ("constant", 1): schedule = .constant
            case ("step", 3):
                guard let f = Double(parts[1]), f > 0, let e = Int(parts[2]), e > 0 else {
                    throw ValidationError("--lr-schedule step:FACTOR:EVERY needs a positive factor and step count, got '\(text)'")
                }
                schedule = .stepDecay(factor: f, every: e)
            case ("inverse", 2):
                guard let d = Double(parts[1]), d >= 0 else { throw ValidationError("--lr-schedule inverse:DECAY needs DECAY >= 0, got '\(text)'") }
                schedule = .inverseTime(decay: d)
            default:
                throw ValidationError("--lr-schedule must be constant, step:FACTOR:EVERY or inverse:DECAY, got '\(text)'")
            }
            c.baselines.sgd.schedule = schedule; c.baselines.adam.schedule = schedule
        }
        if nesterov { c.baselines.sgd.momentumKind = .nesterov }
        if let b = minibatchSize {
            guard b > 0 else { throw ValidationError("--minibatch-size must be positive, got \(b)") }
            c.baselines.sgd.batchSize = b; c.baselines.adam.batchSize = b; c.baselines.ncg.casesPerBatch = b
        }
        if let s = seed { c.seed = s }
        if let w = weightCost { c.weightCost = w; c.hessianFree.weightCost = w }
        if noBiasWeightCost { c.weightCostOnBiases = false }
        if let k = curvature { c.hessianFree.curvature = k }
        if let k = batchSize {
            guard k > 0 else { throw ValidationError("--batch-size must be positive, got \(k)") }
            c.hessianFree.curvatureBatches = .fixed(size: k)
        }
        if let m = maxCgIterations { c.hessianFree.conjugateGradient.maximumIterations = m }
        if let l = initialLambda { c.hessianFree.initialLambda = l }
        if let l = lambdaFloor { c.hessianFree.lambdaFloor = l }
        if let d = warmStartDecay { c.hessianFree.warmStartDecay = d }
        if noPreconditioner { c.hessianFree.preconditioner = false }
        if noBacktracking { c.hessianFree.backtracking = false }
        if noLineSearch { c.hessianFree.lineSearch = false }
        if noDamping { c.hessianFree.adaptiveDamping = false }
        if let r = cgStopping { c.hessianFree.conjugateGradient.stoppingRule = r }
        if let d = rhoData { c.hessianFree.reductionRatioData = d }
        if let m = maxIterations { c.maximumIterations = m }
        if let t = timeLimit { c.timeLimitSeconds = t }
        if let b = cpuBudget { c.cpuBudgetSeconds = b }
        if let e = evaluationInterval { c.evaluationInterval = e }
        if let k = checkpointInterval { c.checkpointInterval = k }
        if let k = logInterval { c.logInterval = k }
        if let s = chunkSize { c.chunkSize = s }
        c.data.validationSplit = validationSplit
        if let v = curvesRecipe { c.data.curvesRecipe = v }
        c.data.validationInputs = validationData
        c.data.validationTargets = validationTargets
        if let p = earlyStopping { c.earlyStoppingPatience = p }
        if let p = paperStyleStop { c.paperStylePatience = p }
        if testOnce { c.testOnce = true }
        c.convergence = convergenceRule(default: c.convergence)
        try c.validate()
        return c
    }

    /// The convergence rule the flags describe, from `base`.
    func convergenceRule(default base: ConvergenceRule) -> ConvergenceRule {
        var r = base
        if let w = convergenceWindow { r.window = w }
        if let t = convergenceTolerance { r.relativeTolerance = t }
        return r
    }

    func parseArchitecture(_ text: String, mirrored mirror: Bool, defaultOutput: Activation = .logistic) throws -> NetworkArchitecture {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        let sizes = parts.compactMap { Int($0) }
        guard sizes.count == parts.count, sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--layers must be positive sizes joined by '-', e.g. 784-1000-500-250-30; got '\(text)'")
        }
        if let list = activations {
            let names = list.split(separator: ",").map(String.init)
            let acts = try names.map { n -> Activation in
                guard let a = Activation(rawValue: n) else { throw ValidationError("unknown activation '\(n)' in --activations") }
                return a
            }
            let full = mirror ? sizes + sizes.dropLast().reversed() : sizes
            guard acts.count == full.count - 1 else {
                throw ValidationError("--activations lists \(acts.count) activations for \(full.count - 1) layers")
            }
            return try NetworkArchitecture(layerSizes: full, activations: acts)
        }
        let h = hidden ?? .logistic, o = output ?? defaultOutput
        if mirror {
            return try Preset.autoencoder(encoder: sizes, hidden: h, code: code ?? .linear, output: o)
        }
        let acts = Array(repeating: h, count: sizes.count - 2) + [o]
        return try NetworkArchitecture(layerSizes: sizes, activations: acts)
    }

    /// Where the best iteration's parameters are, or that they are not kept: best/ holds
    /// them unless someone removed it after that iteration (resume rewrites it only when the
    /// best iteration is the checkpoint's).
    static func bestParametersText(_ best: URL) -> String {
        FileManager.default.fileExists(atPath: best.appendingPathComponent(CheckpointLayout.parametersFileName).path)
            ? "; parameters in \(best.path)"
            : "; its parameters are not kept (\(best.path) holds none: removed after that iteration)"
    }

    static func defaultFolder(name: String, date: Date = Date()) -> URL {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return URL(fileURLWithPath: "runs/\(name)-\(f.string(from: date))")
    }

    func run() throws {
        try checkArguments()
        // Every flag is checked (validate, then the configuration) before a file is read or a
        // folder made; a configuration the library refuses is a usage error too.
        let configuration: ExperimentConfiguration?
        do { configuration = resumeFolder == nil ? try resolvedConfiguration() : nil }
        catch let e as ExperimentError { throw ValidationError(e.description) }
        ComputeThreads.set(threads)
        // Under mpirun: one rank of a data-parallel run (see ParallelLaunch); rank 0 talks.
        let parallel = try ParallelLaunch()
        let printer = ProgressPrinter(quiet: quiet || !parallel.talks, json: json && parallel.talks)
        let stopper = SignalStopper()
        if let note = BLASStartup.userChoiceNote { printer.handle(.message("note: \(note)")) }
        try parallel.run {
            let run: TrainingRun
            if let folder = resumeFolder {
                var moved: [String: String] = [:]
                for (field, given) in [("trainInputs", data), ("trainTargets", targets), ("testInputs", testData), ("testTargets", testTargets)] {
                    if let given { moved[field] = given }
                }
                var convergence: ConvergenceRule? = nil
                if convergenceWindow != nil || convergenceTolerance != nil {
                    let saved = try RunFolder(URL(fileURLWithPath: folder)).readConfiguration(ExperimentConfiguration.self)
                    convergence = convergenceRule(default: saved.convergence)
                }
                let changes = TrainingRun.ResumeChanges(maximumIterations: maxIterations, timeLimitSeconds: timeLimit,
                                                        earlyStoppingPatience: earlyStopping, convergence: convergence,
                                                        checkpointInterval: checkpointInterval, logInterval: logInterval,
                                                        cpuBudgetSeconds: cpuBudget, paperStylePatience: paperStyleStop)
                run = try TrainingRun.resume(folder: URL(fileURLWithPath: folder), locations: dataOptions.locations,
                                             changes: changes, movedFiles: moved, events: printer.handle, context: parallel.context)
            } else {
                let c = configuration!
                let folder = out.map { URL(fileURLWithPath: $0) } ?? Self.defaultFolder(name: c.preset, date: parallel.agreedDate())
                run = try OutputFolder.naming("--out", out) {
                    try TrainingRun.create(configuration: c, folder: folder, locations: dataOptions.locations, events: printer.handle,
                                           context: parallel.context)
                }
                printer.handle(.message("run folder \(folder.path); \(c.architecture.layerSizes.map(String.init).joined(separator: "-")), \(c.architecture.layout.parameterCount) parameters"))
            }
            if !printer.quiet && !printer.json { Console.line(ProgressLine.header()) }
            let outcome = try run.run(stop: stopper.flag, events: printer.handle)
            printer.handle(.message(String(format: "stopped (%@) after iteration %d, %.1f s; run folder %@",
                                           outcome.stopReason.rawValue, outcome.iterations, outcome.seconds, run.folder.url.path)))
            if let best = outcome.summary.best {
                printer.handle(.message("best iteration \(best.iteration) (by \(outcome.summary.selectedBy.rawValue) error): "
                                        + ProgressLine.errorsText(train: best.trainError, validation: best.validationError, test: best.testError)
                                        + Self.bestParametersText(run.bestFolder)))
            }
            // Interrupted runs exit as shells expect of SIGINT (128 + 2), after their checkpoint.
            if outcome.stopReason == .interrupted { throw ExitCode(130) }
            if outcome.stopReason == .diverged {
                throw CommandFailure("training diverged: \(outcome.divergence ?? "non-finite values"); the last checkpoint and best/ are kept")
            }
        }
    }
}

/// Failures to write an output folder, worded with the flag that named it.
enum OutputFolder {
    /// Runs `body`; a folder or file it cannot write becomes one line naming `flag` and what to do.
    static func naming<T>(_ flag: String, _ given: String?, _ body: () throws -> T) throws -> T {
        do { return try body() }
        catch let e as ExperimentError {
            guard case .unwritable(let path, let reason) = e else { throw e }
            throw CommandFailure(unwritable(flag, given, path: path, reason: reason))
        } catch let e as ReportingError {
            guard case .io(let path, let reason) = e else { throw e }
            throw CommandFailure(unwritable(flag, given, path: path, reason: reason))
        }
    }

    static func unwritable(_ flag: String, _ given: String?, path: String, reason: String) -> String {
        let named = given.map { "\(flag) \($0)" } ?? "the default \(flag) folder"
        let same = given.map { URL(fileURLWithPath: $0).standardizedFileURL.path == URL(fileURLWithPath: path).standardizedFileURL.path } ?? false
        return (same ? named : "\(named): \(path)") + ": \(reason); give \(flag) a folder you can write"
    }
}
