import Foundation
import Reporting

/// Table 2 of Martens (2010) beside our runs: for each run, the paper's train and test errors
/// for the same data set, prior and method, ours, and the relative difference.
public enum PaperComparison {
    /// Table 2's rows and columns.
    public enum Method: String, Sendable, CaseIterable {
        case ptNCG = "PT+NCG", randHF = "RAND+HF", ptHF = "PT+HF"
    }

    /// The paper's (train, test) errors; nil where Table 2 has "-".
    public static func paper(dataSet: String, l2: Bool, method: Method) -> (train: Double?, test: Double?)? {
        let key = dataSet.uppercased() + (l2 ? "*" : "")
        let table: [String: [Method: (Double?, Double?)]] = [
            "CURVES": [.ptNCG: (0.74, 0.82), .randHF: (0.11, 0.20), .ptHF: (0.10, 0.21)],
            "MNIST": [.ptNCG: (2.31, 2.72), .randHF: (1.64, 2.78), .ptHF: (1.63, 2.46)],
            "MNIST*": [.ptNCG: (2.07, 2.61), .randHF: (1.75, 2.55), .ptHF: (1.60, 2.28)],
            "FACES": [.ptNCG: (nil, 124), .randHF: (55.4, 139), .ptHF: (nil, nil)],
            "FACES*": [.ptNCG: (nil, nil), .randHF: (60.6, 122), .ptHF: (nil, nil)],
        ]
        return table[key]?[method].map { (train: $0.0, test: $0.1) }
    }

    /// The paper's method a configuration runs, when it is one of Table 2's.
    public static func method(of c: ExperimentConfiguration) -> Method? {
        let pretrained = c.pretraining != nil || c.initialParameters != nil
        switch (c.optimizer, pretrained) {
        case (.hf, false): return .randHF
        case (.hf, true): return .ptHF
        case (.ncg, true): return .ptNCG
        default: return nil
        }
    }

    /// One row: a run against the paper.
    public struct Row: Sendable, Equatable {
        public var run: String
        /// "MNIST", "MNIST*" (with the paper's l2 prior), ...
        public var dataSet: String
        public var method: String
        public var paperTrain: Double?, paperTest: Double?
        public var train: Double?, test: Double?
        public var iteration: Int?
        /// Which error chose the iteration reported.
        public var selectedBy: String
        /// CPU seconds up to the reported iteration, pre-training included (nil for runs
        /// from before CPU time was recorded), and how many of them pre-training took.
        public var cpuSeconds: Double? = nil
        public var pretrainingSeconds: Double? = nil
        /// How the run ended (`summary.json`'s stop reason), or "running" when its summary
        /// is older than its metrics or absent.
        public var stop: String = "running"
        /// "CPU, BLAS core" the run's summary names, or nil.
        public var machine: String? = nil
    }

    /// The row of a run folder. Our errors are those of the best iteration: `summary.json`'s
    /// when the run wrote one at its last iteration, else the iteration with the lowest test
    /// error in its metrics. (A resumed run that is still going keeps the summary of its
    /// previous stop, which no longer covers its metrics.)
    /// `pretrainingSeconds`: the CPU time of the pre-training the run's clock includes, if any.
    public static func row(name: String, configuration c: ExperimentConfiguration, records: [MetricsRecord],
                           summary: TrainingSummary?, pretrainingSeconds: Double? = nil) -> Row {
        let summary = summary.flatMap { $0.iterations >= (records.last?.iteration ?? 0) ? $0 : nil }
        // The starred rows are the paper's l2 priors, which the mnist-l2 / faces-l2 presets use.
        let l2 = (c.data.dataset == "mnist" && c.weightCost == Preset.mnistL2.weightCost)
            || (c.data.dataset == "faces" && c.weightCost == Preset.facesL2.weightCost)
        let kind: Method? = method(of: c)
        var paperTrain: Double? = nil, paperTest: Double? = nil
        if let kind, let p = paper(dataSet: c.data.dataset, l2: l2, method: kind) { (paperTrain, paperTest) = (p.train, p.test) }
        let label = kind?.rawValue ?? c.optimizer.rawValue.uppercased()
        var row = Row(run: name, dataSet: c.data.dataset.uppercased() + (l2 ? "*" : "") + c.data.recipeNote, method: label,
                      paperTrain: paperTrain, paperTest: paperTest, train: nil, test: nil, iteration: nil, selectedBy: "test")
        if let s = summary, let b = s.best {
            (row.train, row.test, row.iteration, row.selectedBy) = (b.trainError, b.testError, b.iteration, s.selectedBy.rawValue)
            row.cpuSeconds = b.cpuSeconds
        } else if let b = records.filter({ $0.testError.map { !$0.isNaN } ?? false }).min(by: { $0.testError! < $1.testError! }) {
            (row.train, row.test, row.iteration) = (b.trainError.isNaN ? nil : b.trainError, b.testError, b.iteration)
            row.cpuSeconds = b.cpuSeconds
        }
        row.pretrainingSeconds = pretrainingSeconds
        if let s = summary {
            row.stop = s.stopReason.rawValue
            row.machine = "\(s.machine.cpuModel), \(s.machine.blasCore)"
        }
        return row
    }

    public static let fileName = "table2-vs-paper.md"

    /// The comparison as Markdown.
    public static func markdown(_ rows: [Row]) -> String {
        func number(_ v: Double?) -> String { v.map { String(format: $0 >= 10 ? "%.1f" : "%.3f", $0) } ?? "-" }
        func difference(_ ours: Double?, _ paper: Double?) -> String {
            guard let o = ours, let p = paper, p > 0 else { return "-" }
            return String(format: "%+.0f%%", 100 * (o - p) / p)
        }
        func cpu(_ r: Row) -> String {
            guard let s = r.cpuSeconds else { return "-" }
            guard let p = r.pretrainingSeconds, p > 0 else { return String(format: "%.0f", s) }
            return String(format: "%.0f (%.0f pre-training)", s, p)
        }
        var lines = [
            "| run | data set | method | paper train | ours train | diff | paper test | ours test | diff | iteration (chosen by) | CPU s to it | stop | CPU, BLAS core |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows {
            let at = r.iteration.map { "\($0) (\(r.selectedBy))" } ?? "-"
            lines.append("| \(r.run) | \(r.dataSet) | \(r.method) | \(number(r.paperTrain)) | \(number(r.train)) | \(difference(r.train, r.paperTrain)) | \(number(r.paperTest)) | \(number(r.test)) | \(difference(r.test, r.paperTest)) | \(at) | \(cpu(r)) | \(r.stop) | \(r.machine ?? "-") |")
        }
        lines.append("")
        lines.append("Errors are Table 2's: the per-case sum of squared reconstruction errors, averaged over the training / test set. The paper's numbers are from Martens (2010), Table 2 (\"-\" where it gives none); ours are at the run's best iteration: by validation error when the run had validation data, else by test error (the paper's MNIST and FACES protocol, early stopping, names no validation set). A * marks the paper's l2 prior (1e-4 MNIST, 1e-2 FACES). \"CPU s to it\": the process's CPU seconds up to that iteration, pre-training included (its share in brackets). \"stop\": how the run ended, from its summary.json (\"interrupted\": stopped by a signal, to be resumed; \"running\": no summary covers its last iteration). The CPU and BLAS core are the summary's: those of the run's last invocation.")
        return lines.joined(separator: "\n") + "\n"
    }
}
