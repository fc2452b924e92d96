import Foundation

/// A figure shown on the report page: an image file in the report folder and its caption.
public struct ReportFigure: Sendable, Equatable {
    /// Path relative to `index.html` (e.g. `error-vs-time.svg`).
    public var fileName: String
    public var caption: String

    public init(fileName: String, caption: String) {
        self.fileName = fileName
        self.caption = caption
    }
}

/// `index.html`: one self-contained page (no scripts, no external resources) with the runs'
/// table and the figures as `<img>` elements referring to files next to it.
public enum HTMLReport {
    /// The report's file name for the page.
    public static let fileName = "index.html"

    /// The page. Every string from outside (title, run names, captions, file names) is
    /// escaped; file names are also percent-encoded as URLs.
    public static func page(title: String, summaries: [RunSummary], figures: [ReportFigure]) -> String {
        var lines = [
            "<!DOCTYPE html>",
            "<html lang=\"en\">",
            "<head>",
            "<meta charset=\"utf-8\">",
            "<title>\(Markup.escape(title))</title>",
            "<style>",
            "body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }",
            "table.runs { border-collapse: collapse; margin: 1em 0; }",
            "table.runs th, table.runs td { border: 1px solid #ccc; padding: 0.3em 0.6em; }",
            "table.runs td { white-space: nowrap; }",
            "table.runs th { background: #f3f3f3; }",
            "td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }",
            "figure { margin: 1.5em 0; }",
            "figure img { max-width: 100%; border: 1px solid #eee; }",
            "figure img.pixels { image-rendering: pixelated; width: 100%; max-width: 900px; }",
            "</style>",
            "</head>",
            "<body>",
            "<h1>\(Markup.escape(title))</h1>",
            "<h2>Results</h2>",
            RunTable.html(summaries),
            "<p>Errors as in Table 2 of Martens (2010), &ldquo;Deep learning via Hessian-free optimization&rdquo;: at the last iteration (end) and at the iteration with the lowest test error (best test).</p>",
        ]
        if !figures.isEmpty { lines.append("<h2>Figures</h2>") }
        for figure in figures {
            let source = Markup.escape(urlPath(figure.fileName))
            let pixelated = figure.fileName.lowercased().hasSuffix(".png") ? " class=\"pixels\"" : ""
            lines.append("<figure>")
            lines.append("<img src=\"\(source)\" alt=\"\(Markup.escape(figure.caption))\"\(pixelated)>")
            lines.append("<figcaption>\(Markup.escape(figure.caption))</figcaption>")
            lines.append("</figure>")
        }
        lines.append("</body>")
        lines.append("</html>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `path` percent-encoded for use as a relative URL (spaces, `#`, `?`, `%` ...).
    static func urlPath(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}

/// Writes a report folder (`hf report RUN... --out DIR`): `table.md`, the three SVG figures
/// and `index.html`, each atomically.
///
/// Reconstruction images are produced by the caller (`ReconstructionGrid` builds their
/// pixels; the PNG encoder writes them) into `directory` before calling `write`, and passed as
/// `images`; the page shows each with its caption and they are listed among the files written.
/// Without `images`, a `reconstructions.png` found in `directory` is shown.
public enum ReportWriter {
    /// The file name of the reconstructions image the page shows when present.
    public static let reconstructionsFileName = "reconstructions.png"

    /// Writes the report for `runs` (metrics) and `summaries` (table rows, usually one per
    /// run, same order) into `directory`, creating it; `errorScale` is the error plots' y
    /// axis (logarithmic shows errors that fall over several decades, as HF's do). Returns
    /// the files written.
    @discardableResult
    public static func write(title: String, runs: [RunMetrics], summaries: [RunSummary], images: [ReportFigure] = [],
                             errorScale: AxisScale = .linear, to directory: URL) throws -> [URL] {
        let files: [(String, String)] = [
            (RunTable.fileName, RunTable.markdown(summaries)),
            (ReportPlots.errorVsTimeFileName, ReportPlots.errorVsTime(runs, errorScale: errorScale).svg()),
            (ReportPlots.errorVsIterationFileName, ReportPlots.errorVsIteration(runs, errorScale: errorScale).svg()),
            (ReportPlots.lambdaAndCGFileName, ReportPlots.lambdaAndCG(runs).svg()),
        ]
        var figures = [
            ReportFigure(fileName: ReportPlots.errorVsTimeFileName,
                         caption: "Error (train solid, test dashed) vs. computation time, log-scale time axis (cf. Figure 2 of the paper)."),
            ReportFigure(fileName: ReportPlots.errorVsIterationFileName,
                         caption: "Error (train solid, test dashed) vs. iteration."),
            ReportFigure(fileName: ReportPlots.lambdaAndCGFileName,
                         caption: "Damping lambda (log scale), CG iterations, and the reduction ratio rho per HF iteration (on the curvature batch, solid; on the whole training set, dashed, where the run logged it)."),
        ]
        var images = images
        if images.isEmpty, FileManager.default.fileExists(atPath: directory.appendingPathComponent(reconstructionsFileName).path) {
            images = [ReportFigure(fileName: reconstructionsFileName,
                                   caption: "Test images (upper rows) above their reconstructions (lower rows).")]
        }
        figures += images
        var written: [URL] = images.map { directory.appendingPathComponent($0.fileName) }
        for (name, text) in files + [(HTMLReport.fileName, HTMLReport.page(title: title, summaries: summaries, figures: figures))] {
            let url = directory.appendingPathComponent(name)
            do {
                try AtomicFile.write(text, to: url)
            } catch {
                throw ReportingError.wrapping(error, file: url.path)
            }
            written.append(url)
        }
        return written
    }
}
