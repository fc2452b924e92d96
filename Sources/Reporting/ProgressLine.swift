import Foundation

/// The text of per-iteration progress lines: the CLI prints them, the library only formats.
///
/// ```
///   iter    elapsed      train       test     lambda       rho      CG
///      1      4.2 s    16.9212          -   6.67e+00    0.0412   10/10
/// ```
public enum ProgressLine {
    /// Column headings aligned with `format(_:)`.
    public static func header() -> String {
        pad("iter", 6) + "  " + pad("elapsed", 9) + "  " + pad("train", 9) + "  " + pad("test", 9) + "  "
            + pad("lambda", 9) + "  " + pad("rho", 8) + "  " + pad("CG", 9)
    }

    /// One line for `record`: iteration, elapsed wall time, train and test error ("-" when
    /// not evaluated), lambda, rho (inf/-inf/nan spelled out), and CG iterations as
    /// `chosen/run`. For the first-order baselines (no damping, no quadratic model, no CG),
    /// whose records hold NaN for the errors between evaluations and for lambda and rho
    /// always, those columns read "-".
    public static func format(_ record: MetricsRecord) -> String {
        let baseline = record.optimizer.map { $0 != "hf" } ?? false
        func optional(_ value: Double, _ text: (Double) -> String) -> String { baseline && value.isNaN ? "-" : text(value) }
        let train = optional(record.trainError) { Markup.number($0, decimals: 4) }
        let test = record.testError.map { optional($0) { Markup.number($0, decimals: 4) } } ?? "-"
        let lambda = optional(record.lambda) { $0.isFinite ? String(format: "%.2e", $0) : Markup.number($0) }
        let rho = optional(record.rho) { Markup.number($0, decimals: 4) }
        let cg = baseline && record.cgIterations == 0 ? "-" : "\(record.cgChosen)/\(record.cgIterations)"
        return pad("\(record.iteration)", 6) + "  " + pad(Markup.duration(record.seconds), 9) + "  "
            + pad(train, 9) + "  " + pad(test, 9) + "  " + pad(lambda, 9) + "  " + pad(rho, 8) + "  " + pad(cg, 9)
    }

    /// Whether `record` gets a line in the progress table: every HF iteration (lambda, rho and
    /// CG change at each), and a first-order baseline's steps only where the errors were
    /// measured (`--evaluation-interval`), so a run of thousands of steps prints one line per
    /// evaluation instead of one per mini-batch. `--json` and metrics.jsonl keep every step.
    public static func isShown(_ record: MetricsRecord) -> Bool {
        let baseline = record.optimizer.map { $0 != "hf" } ?? false
        return !baseline || !record.trainError.isNaN
    }

    /// "train 1.2345, validation 2.3456, test 2.4567", leaving out the errors not measured.
    public static func errorsText(train: Double?, validation: Double?, test: Double?) -> String {
        [("train", train), ("validation", validation), ("test", test)]
            .compactMap { name, value in value.map { "\(name) \(Markup.number($0, decimals: 4))" } }
            .joined(separator: ", ")
    }

    /// `text` right-aligned in `width` characters (longer text is kept whole).
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

/// A one-line terminal progress bar through a long pass (e.g. the gradient over 60000
/// cases): `label [=========>          ]  45% 450/1000 1.2 s, ~1.5 s left`.
///
/// The CLI redraws it in place by printing `"\r" + line` to a terminal and ends it with a
/// newline; the library only builds the string.
public enum ProgressBar {
    /// The bar for `completed` of `total` units; `elapsed` seconds adds the time so far and a
    /// linear estimate of the time left. `width` is the bar's inner width in characters.
    public static func render(completed: Int, total: Int, width: Int = 30, label: String = "", elapsed: Double? = nil) -> String {
        let width = max(1, width)
        let fraction = total > 0 ? min(1, max(0, Double(completed) / Double(total))) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        var bar = String(repeating: "=", count: filled)
        if filled < width {
            bar += completed > 0 ? ">" : " "
            bar += String(repeating: " ", count: width - filled - 1)
        }
        var line = (label.isEmpty ? "" : label + " ") + "[" + bar + "]"
        line += " " + ProgressLine.pad("\(Int((fraction * 100).rounded(.down)))%", 4)
        line += " \(completed)/\(total)"
        if let elapsed, elapsed.isFinite, elapsed >= 0 {
            line += " " + Markup.duration(elapsed)
            if completed > 0, completed < total {
                line += ", ~" + Markup.duration(elapsed * Double(total - completed) / Double(completed)) + " left"
            }
        }
        return line
    }
}
