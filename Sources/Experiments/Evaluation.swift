import Foundation
import LinearAlgebra
import NeuralNetworks
import Datasets
import Reporting

/// A trained network read back from a run folder or its checkpoint folder.
public struct SavedModel {
    public let configuration: ExperimentConfiguration
    public let network: NeuralNetwork<Float>
    public let iteration: Int

    /// Reads `folder`: a run folder (with config.json and checkpoint/), its checkpoint/, or
    /// its best/ (the parameters at the best iteration).
    public static func read(from folder: URL) throws -> SavedModel {
        var runURL = folder
        var checkpointURL: URL? = nil
        if !FileManager.default.fileExists(atPath: RunFolder(folder).configuration.path),
           FileManager.default.fileExists(atPath: RunFolder(folder.deletingLastPathComponent()).configuration.path) {
            runURL = folder.deletingLastPathComponent()
            checkpointURL = folder
        }
        let run = RunFolder(runURL)
        guard FileManager.default.fileExists(atPath: run.configuration.path) else {
            throw ExperimentError.unreadableRun("\(folder.path): not a run folder (no config.json)")
        }
        let configuration: ExperimentConfiguration
        do { configuration = try run.readConfiguration(ExperimentConfiguration.self) }
        catch { throw ExperimentError.unreadableRun("\(run.configuration.path): \(error)") }
        // checkpoint/ and best/ both record their iteration; nothing else is needed here.
        struct Iteration: Codable { var iteration: Int }
        let source = checkpointURL ?? run.checkpoint
        let checkpoint: Checkpoint<Iteration>
        do { checkpoint = try Checkpoint<Iteration>.read(from: source) }
        catch { throw ExperimentError.unreadableRun("\(source.path): \(error)") }
        let theta = try TrainingRun.parametersVector(from: checkpoint.parameters, layout: configuration.architecture.layout,
                                                     file: source.path)
        let network = try NeuralNetwork(architecture: configuration.architecture, parameters: theta)
        return SavedModel(configuration: configuration, network: network, iteration: checkpoint.optimizerState.iteration)
    }

    /// Loss and errors on inputs and targets (targets = inputs for an auto-encoder).
    public func metrics(inputs: Matrix<Float>, targets: Matrix<Float>?, chunkSize: Int = 5000) throws -> NetworkMetrics {
        let t = targets ?? inputs
        guard inputs.columns == network.architecture.inputSize else {
            throw ExperimentError.invalid("the network takes \(network.architecture.inputSize) values per case, the data have \(inputs.columns)")
        }
        guard t.columns == network.architecture.outputSize, t.rows == inputs.rows else {
            throw ExperimentError.invalid("the network gives \(network.architecture.outputSize) outputs per case, the targets are \(t.rows)x\(t.columns) for \(inputs.rows) cases")
        }
        return try network.metrics(inputs: inputs, targets: t, chunkSize: chunkSize)
    }
}

/// Builds the report of several runs: Table 2's layout, Figure 2's error-vs-time plot, the
/// other plots and `index.html`, plus the first run's `reconstructions.png`.
public enum RunReport {
    public static func write(runs folders: [URL], errorScale: AxisScale = .linear, to directory: URL) throws -> [URL] {
        guard !folders.isEmpty else { throw ExperimentError.invalid("no run folders given") }
        try AtomicFile.checkCanCreateFolder(directory)
        var runs: [RunMetrics] = [], summaries: [RunSummary] = [], comparison: [PaperComparison.Row] = []
        var names = Set<String>()
        var pictures: [(run: String, url: URL)] = []
        for url in folders {
            let folder = RunFolder(url)
            guard FileManager.default.fileExists(atPath: folder.configuration.path) else {
                throw ExperimentError.unreadableRun("\(url.path): not a run folder (no config.json)")
            }
            let c: ExperimentConfiguration
            do { c = try folder.readConfiguration(ExperimentConfiguration.self) }
            catch { throw ExperimentError.unreadableRun("\(folder.configuration.path): \(error)") }
            let records: [MetricsRecord]
            do { records = try folder.readMetrics() }
            catch { throw ExperimentError.unreadableRun("\(folder.metrics.path): \(error)") }
            var name = url.standardizedFileURL.lastPathComponent
            var k = 2
            while names.contains(name) { name = "\(url.lastPathComponent)-\(k)"; k += 1 }
            names.insert(name)
            runs.append(RunMetrics(name: name, records: records))
            // The pre-training seconds on the run's CPU clock; for an --init-from run made
            // before config.json recorded them, what its weights file says, if it is here.
            let summary = try? TrainingSummary.read(from: url)
            let pretrainingSeconds = TrainingRun.pretrainingCPUSeconds(c, folder: RunFolder(url))
                ?? c.initialParameters.flatMap { path in
                    (try? SafeTensors.read(from: URL(fileURLWithPath: path))).flatMap { TrainingRun.recordedPretrainingSeconds($0) }
                }
            let initialization: String
            switch c.initialization {
            case _ where c.pretraining != nil: initialization = "PT"
            case _ where c.initialParameters != nil: initialization = pretrainingSeconds != nil ? "PT (reused)" : "from file"
            case .sparse: initialization = "RAND (sparse)"
            case .dense: initialization = "RAND (dense)"
            }
            summaries.append(RunSummary(name: name, dataSet: c.data.displayName, initialization: initialization,
                                        optimizer: c.optimizer.rawValue.uppercased(), weightCost: c.weightCost, records: records))
            comparison.append(PaperComparison.row(name: name, configuration: c, records: records,
                                                  summary: summary,
                                                  pretrainingSeconds: pretrainingSeconds))
            let png = url.appendingPathComponent(ReportWriter.reconstructionsFileName)
            if FileManager.default.fileExists(atPath: png.path) { pictures.append((name, png)) }
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ExperimentError.unwritable(directory.path, reason: "cannot create the folder (\(ReportingError.reason(error)))")
        }
        // Every run's reconstructions, captioned with its name: reconstructions.png for one
        // run, reconstructions-<run>.png each for several.
        var images: [ReportFigure] = []
        for (run, png) in pictures {
            let fileName = folders.count == 1 ? ReportWriter.reconstructionsFileName
                : "reconstructions-\(String(run.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })).png"
            let data: Data
            do { data = try Data(contentsOf: png) }
            catch { throw ExperimentError.unreadableRun("\(png.path): \(ReportingError.reason(error))") }
            try AtomicFile.write(data, to: directory.appendingPathComponent(fileName))
            images.append(ReportFigure(fileName: fileName,
                                       caption: "\(run): test images (upper rows) above their reconstructions (lower rows)."))
        }
        let table2 = directory.appendingPathComponent(PaperComparison.fileName)
        try AtomicFile.write(PaperComparison.markdown(comparison), to: table2)
        return try ReportWriter.write(title: "Hessian-free runs", runs: runs, summaries: summaries, images: images,
                                      errorScale: errorScale, to: directory)
            + [table2]
    }
}
