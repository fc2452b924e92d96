import ArgumentParser
import Foundation
import Datasets
import Experiments
import LinearAlgebra
import Reporting

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Errors of a saved model on its data set or on any data (NPY/CSV).")

    @Option(help: "Run folder or its checkpoint/ folder.")
    var checkpoint: String

    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Inputs (.npy or .csv); default: the run's own data set (train and test).")
    var data: String?
    @Option(help: "Targets for --data (default: the inputs, for an auto-encoder).")
    var targets: String?
    @Option(help: "Divide the files' values by this number (e.g. 255), or 'none'.", transform: Scaling.option)
    var scale: Scaling?
    @Flag(help: "Print one JSON object.")
    var json = false
    @Option(help: "Compute threads: OpenBLAS's and the elementwise kernels' (default: all cores).")
    var threads: Int?

    func run() throws {
        try checkArguments()
        ComputeThreads.set(threads)
        do {
            let model = try SavedModel.read(from: URL(fileURLWithPath: checkpoint))
            var results: [(String, Int, Double, Double, Double?)] = []
            let scaling: Scaling = scale ?? .none
            if let data {
                let x = try UserData.readMatrix(URL(fileURLWithPath: data), scaling: scaling)
                let t = try targets.map { try UserData.readMatrix(URL(fileURLWithPath: $0), scaling: scaling) }
                let m = try model.metrics(inputs: x, targets: t, chunkSize: model.configuration.chunkSize)
                results.append((URL(fileURLWithPath: data).lastPathComponent, m.cases, m.loss, m.reconstructionError, m.classificationError))
            } else {
                try model.configuration.data.checkFilesExist { flag in
                    "if it moved, give it with --data FILE (and --targets FILE), or resume the run with \(flag) FILE once"
                }
                let dataset = try model.configuration.data.load(locations: dataOptions.locations)
                for split in [Dataset.Split.train, .validation, .test] {
                    guard let x = dataset.inputs(split), x.rows > 0 else { continue }
                    let m = try model.metrics(inputs: x, targets: dataset.targets(split), chunkSize: model.configuration.chunkSize)
                    results.append((split.rawValue, m.cases, m.loss, m.reconstructionError, m.classificationError))
                }
            }
            if json {
                var object: [String: Any] = ["iteration": model.iteration]
                for (name, cases, loss, error, classification) in results {
                    var entry: [String: Any] = ["cases": cases, "loss": loss, "reconstruction_error": error]
                    if let c = classification { entry["classification_error"] = c }
                    object[name] = entry
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("model at iteration \(model.iteration)")
                for (name, cases, loss, error, classification) in results {
                    var line = String(format: "%-10@ %7d cases  loss %.6g  reconstruction error %.6g", name, cases, loss, error)
                    if let c = classification { line += String(format: "  classification error %.4f", c) }
                    print(line)
                }
            }
        }
    }

    func checkArguments() throws {
        if data == nil && (targets != nil || scale != nil) {
            throw ValidationError("--targets and --scale apply to --data FILE; give --data too")
        }
        if let t = threads, t < 1 { throw ValidationError("--threads must be >= 1, got \(t)") }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Table 2-style table, Figure 2-style plots and an HTML page for one or more runs.")

    @Argument(help: "Run folders.")
    var runs: [String]

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Scale of the error plots' y axis: linear, or log for errors that fall over several decades (linear).")
    var errorScale: String = "linear"

    func checkArguments() throws {
        if runs.isEmpty { throw ValidationError("give at least one run folder") }
        guard ["linear", "log"].contains(errorScale) else {
            throw ValidationError("--error-scale must be linear or log, got '\(errorScale)'")
        }
    }

    func run() throws {
        try checkArguments()
        let files = try OutputFolder.naming("--out", out) {
            try RunReport.write(runs: runs.map { URL(fileURLWithPath: $0) }, errorScale: errorScale == "log" ? .logarithmic : .linear,
                                to: URL(fileURLWithPath: out))
        }
        for f in files { print(f.path) }
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The main job: train the CURVES auto-encoder with HF from sparse initialization for about 5 minutes, then write the report.")

    @Option(help: "Seconds of training (300).")
    var seconds: Double = 300
    @Option(help: "Run folder (default runs/demo-<timestamp>).")
    var out: String?
    @OptionGroup var dataOptions: DataOptions

    func checkArguments() throws {
        guard seconds > 0 && seconds.isFinite else { throw ValidationError("--seconds must be positive, got \(seconds)") }
    }

    func run() throws {
        try checkArguments()
        let stopper = SignalStopper()
        let printer = ProgressPrinter(quiet: false, json: false)
        do {
            var c = Preset.curves.configuration()
            c.timeLimitSeconds = seconds
            let folder = out.map { URL(fileURLWithPath: $0) } ?? TrainCommand.defaultFolder(name: "demo")
            Console.error("hf demo: CURVES auto-encoder 784-400-200-100-50-25-6 (mirrored), HF from sparse initialization, \(Int(seconds)) s")
            let run = try OutputFolder.naming("--out", out) {
                try TrainingRun.create(configuration: c, folder: folder, locations: dataOptions.locations, events: printer.handle)
            }
            Console.line(ProgressLine.header())
            let outcome = try run.run(stop: stopper.flag, events: printer.handle)
            let reportFolder = folder.appendingPathComponent("report")
            _ = try OutputFolder.naming("--out", out) { try RunReport.write(runs: [folder], to: reportFolder) }
            if let r = outcome.lastRecord {
                print(String(format: "after %d iterations (%.0f s): train error %.3f, test error %@", r.iteration, r.seconds, r.trainError,
                             r.testError.map { String(format: "%.3f", $0) } ?? "-"))
            }
            print("run folder: \(folder.path)")
            print("report:     \(reportFolder.appendingPathComponent("index.html").path)")
        }
    }
}
