import Foundation

/// One row of the paper's Table 2: how a run was set up and where it got to.
///
/// The setup facts (data set, initialization, optimizer, l2 weight cost) come from the run's
/// configuration; everything else is computed from its metrics by `init(name:dataSet:
/// initialization:optimizer:weightCost:records:)`.
public struct RunSummary: Sendable, Equatable {
    /// Errors at one iteration.
    public struct ErrorsAt: Sendable, Equatable {
        public var iteration: Int
        public var seconds: Double
        public var trainError: Double
        /// Nil when the test set was never evaluated.
        public var testError: Double?

        public init(iteration: Int, seconds: Double, trainError: Double, testError: Double?) {
            self.iteration = iteration
            self.seconds = seconds
            self.trainError = trainError
            self.testError = testError
        }
    }

    /// The run's display name (usually its folder name).
    public var name: String
    /// "CURVES", "MNIST", "FACES", or the user's data file.
    public var dataSet: String
    /// How the parameters started: "sparse" (RAND in the paper), "pretrained" (PT), ...
    public var initialization: String
    /// "HF", "NCG", "SGD", ...
    public var optimizer: String
    /// The l2 prior strength on connection weights (Table 2's *: 1e-4 MNIST, 1e-2 FACES); 0
    /// for none.
    public var weightCost: Double
    /// The last logged iteration; nil for a run with no records yet.
    public var final: ErrorsAt?
    /// The iteration with the lowest finite test error (the earliest of ties): where early
    /// stopping would have stopped. Nil when the test error was never logged.
    public var bestTest: ErrorsAt?
    /// The number of the last iteration logged (0 for none).
    public var iterations: Int
    /// Wall-clock seconds at the last iteration logged.
    public var seconds: Double

    public init(name: String, dataSet: String, initialization: String, optimizer: String, weightCost: Double,
                final: ErrorsAt?, bestTest: ErrorsAt?, iterations: Int, seconds: Double) {
        self.name = name
        self.dataSet = dataSet
        self.initialization = initialization
        self.optimizer = optimizer
        self.weightCost = weightCost
        self.final = final
        self.bestTest = bestTest
        self.iterations = iterations
        self.seconds = seconds
    }

    /// Summarizes `records` (in logged order). The final errors are those of the last record
    /// whose errors were measured (errors may be evaluated only every few iterations), with the
    /// last test error logged up to then.
    public init(name: String, dataSet: String, initialization: String, optimizer: String, weightCost: Double,
                records: [MetricsRecord]) {
        var final: ErrorsAt?
        if let last = records.last(where: { $0.trainError.isFinite }) ?? records.last {
            let lastTest = records.last { $0.iteration <= last.iteration && ($0.testError.map { $0.isFinite } ?? false) }?.testError
            final = ErrorsAt(iteration: last.iteration, seconds: last.seconds, trainError: last.trainError, testError: lastTest)
        }
        var best: MetricsRecord?
        for record in records {
            guard let test = record.testError, test.isFinite else { continue }
            if best == nil || test < best!.testError! { best = record }
        }
        self.init(name: name, dataSet: dataSet, initialization: initialization, optimizer: optimizer,
                  weightCost: weightCost, final: final,
                  bestTest: best.map { ErrorsAt(iteration: $0.iteration, seconds: $0.seconds, trainError: $0.trainError, testError: $0.testError) },
                  iterations: records.last?.iteration ?? 0, seconds: records.last?.seconds ?? 0)
    }
}

/// Table 2's layout for any number of runs, as Markdown (`table.md`) or an HTML table.
public enum RunTable {
    /// The report's file name for the Markdown table.
    public static let fileName = "table.md"

    /// Column headings, in order.
    public static let headings = ["Run", "Data set", "Init", "Optimizer", "l2",
                                  "Train (end)", "Test (end)", "Train (best test)", "Test (best)",
                                  "Best at iteration", "Iterations", "Wall time"]

    /// The cells of `summary`'s row, as plain text, aligned with `headings`. Errors have 3
    /// decimals like the paper's 2 plus one, missing values are "-".
    public static func cells(_ summary: RunSummary) -> [String] {
        func error(_ value: Double?) -> String { value.map { Markup.number($0, decimals: 3) } ?? "-" }
        return [summary.name, summary.dataSet, summary.initialization, summary.optimizer,
                summary.weightCost == 0 ? "-" : String(format: "%g", summary.weightCost),
                error(summary.final?.trainError), error(summary.final?.testError),
                error(summary.bestTest?.trainError), error(summary.bestTest?.testError),
                summary.bestTest.map { "\($0.iteration)" } ?? "-",
                "\(summary.iterations)", Markup.duration(summary.seconds)]
    }

    /// A Markdown table (GitHub flavour) with one row per run, numbers right-aligned;
    /// `|` in names is escaped. Ends with a note explaining the columns.
    public static func markdown(_ summaries: [RunSummary]) -> String {
        func cell(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
                .replacingOccurrences(of: "\n", with: " ")
        }
        let alignment = headings.indices.map { $0 < 4 ? "---" : "---:" }
        var lines = ["| " + headings.joined(separator: " | ") + " |", "| " + alignment.joined(separator: " | ") + " |"]
        for summary in summaries {
            lines.append("| " + cells(summary).map(cell).joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("Errors as in Table 2 of Martens (2010): the error on the training and test sets at the last iteration (end) and at the iteration with the lowest test error (best test). l2: weight cost of the l2 prior.")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The same table as an HTML `<table>` element, every cell escaped.
    public static func html(_ summaries: [RunSummary]) -> String {
        var lines = ["<table class=\"runs\">", "<thead><tr>" + headings.map { "<th>\(Markup.escape($0))</th>" }.joined() + "</tr></thead>", "<tbody>"]
        for summary in summaries {
            let row = cells(summary).enumerated().map { index, text in
                index < 4 ? "<td>\(Markup.escape(text))</td>" : "<td class=\"number\">\(Markup.escape(text))</td>"
            }
            lines.append("<tr>" + row.joined() + "</tr>")
        }
        lines.append("</tbody>")
        lines.append("</table>")
        return lines.joined(separator: "\n")
    }
}
