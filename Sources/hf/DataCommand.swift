import ArgumentParser
import Datasets
import Foundation
import LinearAlgebra
import Reporting

/// `hf data`: inspect, show and export the data sets.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Summarise, show or export a data set (MNIST, CURVES, FACES, or a .npy/.csv file).",
        subcommands: [Summary.self, Show.self, Export.self, Download.self]
    )

    /// Options shared by every `hf data` subcommand.
    struct Source: ParsableArguments {
        @Option(help: "mnist, curves, faces, or a .npy/.csv file of training inputs.")
        var dataset: String

        @Option(help: "Directory of source data (mnist/, att_faces/); default $HF_DATA_DIR, else ../shared/data.")
        var dataDir: String?

        @Option(help: "Directory for built data sets; default $HF_CACHE_DIR, else $XDG_CACHE_HOME/hessianfree or ~/.cache/hessianfree.")
        var cacheDir: String?

        @Option(help: "Seed of the generated CURVES data set.")
        var seed: UInt64 = Curves.defaultSeed

        @Option(help: "Version of the CURVES recipe (docs/datasets.md): 2 (default) or 1.")
        var recipe: Int = Curves.Recipe.latest.version

        @Option(help: "Scaling of a user's file: 'none' or a positive number to divide by (e.g. 255).", transform: Scaling.option)
        var scale: Scaling = .none

        func validate() throws {
            do { _ = try Curves.Recipe.version(recipe) } catch { throw ValidationError("--recipe: \(error)") }
        }

        /// Loads the data set, printing progress and the load time to stderr.
        func load() throws -> Dataset {
            let locations = DataLocations.resolve(dataDirectory: dataDir, cacheDirectory: cacheDir)
            let start = Date()
            let dataset = try Dataset.load(named: dataset, locations: locations, curvesSeed: seed,
                                           curvesRecipe: try Curves.Recipe.version(recipe), scaling: scale,
                                           progress: { standardError("hf: \($0)") })
            standardError(String(format: "hf: %@ loaded in %.1f s", dataset.name, Date().timeIntervalSince(start)))
            return dataset
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print sizes and statistics of a data set.")
        @OptionGroup var source: Source
        @Flag(help: "Print one JSON object.")
        var json = false
        @Option(help: ArgumentHelp("Also give standard PCA's per-case squared error with these numbers of components, e.g. 6,18 (fitted on the training set; Hinton & Salakhutdinov's Fig. 2 caption gives it for their data sets).", valueName: "K,K,..."))
        var pca: String?

        func run() throws {
            var components: [Int] = []
            if let pca {
                let parts = pca.split(separator: ",", omittingEmptySubsequences: false)
                components = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !parts.isEmpty, components.count == parts.count, components.allSatisfy({ $0 >= 0 }) else {
                    throw ValidationError("--pca takes numbers of components >= 0 separated by commas, e.g. 6,18; got '\(pca)'")
                }
            }
            let dataset = try source.load()
            var summary = dataset.summary()
            if !components.isEmpty {
                if let k = components.first(where: { $0 > dataset.dimension }) {
                    throw CommandFailure("--pca \(k): \(dataset.name) has only \(dataset.dimension) dimensions")
                }
                standardError("hf: fitting PCA on \(dataset.train.rows) training cases")
                guard let errors = dataset.pcaErrors(components: components) else {
                    throw CommandFailure("PCA failed: the eigensolver did not converge (is there a non-finite value in \(dataset.name)?)")
                }
                summary.pcaError = Dictionary(uniqueKeysWithValues: errors.map { (String($0.key), $0.value) })
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
                return
            }
            print("data set        \(summary.name)")
            print("cases           train \(summary.train)" + (summary.validation.map { ", validation \($0)" } ?? "") + ", test \(summary.test)")
            print("dimension       \(summary.dimension)" + (summary.imageWidth.map { " (\($0)x\(summary.imageHeight ?? 0) images)" } ?? ""))
            print(String(format: "values          min %.4g, max %.4g, mean %.4g", summary.min, summary.max, summary.mean))
            print(String(format: "pixel variance  %.4g (average over pixels)", summary.variance))
            print(String(format: "sum per case    %.4g", summary.meanSumPerCase))
            for split in ["train", "validation", "test"] {
                if let e = summary.meanImageError[split] {
                    print(String(format: "mean-image SSE  %@ %.4g per case", split, e))
                }
            }
            for k in components {
                guard let e = summary.pcaError?[String(k)] else { continue }
                let splits = ["train", "validation", "test"].compactMap { s in e[s].map { String(format: "%@ %.4g", s, $0) } }
                print("PCA-\(k) SSE" + String(repeating: " ", count: max(1, 8 - String(k).count)) + splits.joined(separator: ", ") + " per case")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a PNG grid of examples.")
        @OptionGroup var source: Source
        @Option(help: "The PNG file to write.")
        var out: String
        @Option(help: "Which split: train, validation or test.")
        var split: String = "train"
        @Option(help: "How many examples.")
        var count: Int = 100
        @Option(help: "Examples per row of the grid.")
        var columns: Int = 10
        @Option(help: "Magnification of each pixel.")
        var zoom: Int = 2
        @Option(help: "Show consecutive cases from this index (default: evenly spaced over the split).")
        var first: Int?

        func checkArguments() throws {
            guard count > 0, columns > 0, zoom > 0, zoom <= 16 else {
                throw ValidationError("--count and --columns must be positive, --zoom in 1...16")
            }
            guard Dataset.Split(rawValue: split) != nil else { throw ValidationError("--split must be train, validation or test, got '\(split)'") }
            if let first, first < 0 { throw ValidationError("--first must be >= 0, got \(first)") }
        }

        func run() throws {
            try checkArguments()
            let dataset = try source.load()
            guard let s = Dataset.Split(rawValue: split), let m = dataset.inputs(s), m.rows > 0 else {
                throw CommandFailure("\(dataset.name) has no '\(split)' cases; choose another --split")
            }
            guard let w = dataset.imageWidth, let h = dataset.imageHeight else {
                throw CommandFailure("\(dataset.name) has no image shape to show; use hf data export instead")
            }
            if let first, first < 0 || first >= m.rows {
                throw CommandFailure("--first must be in 0..<\(m.rows) for the \(m.rows) \(split) cases, got \(first)")
            }
            let n = min(count, m.rows - (first ?? 0))
            // Evenly spaced cases by default, so FACES shows several people, angles and scales.
            let picks = first.map { f in Array(f..<(f + n)) } ?? (0..<n).map { $0 * m.rows / n }
            let examples = MinibatchSchedule.gather(m, rows: picks[...])
            // Images in [0, 1] keep their grey levels; normalised data (FACES) is stretched to
            // its shown range.
            let bounded = examples.storage.allSatisfy { $0 >= 0 && $0 <= 1 }
            let png = PNGImage.grid(examples, imageWidth: w, imageHeight: h, columns: min(columns, n),
                                    padding: 1, scale: zoom, range: bounded ? 0...1 : nil)
            try OutputFolder.naming("--out", out) { try png.write(to: URL(fileURLWithPath: out)) }
            standardError("hf: wrote \(n) \(split) examples to \(out)")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write one split of a data set as a .npy file (float32, cases x values).")
        @OptionGroup var source: Source
        @Option(help: "The .npy file to write.")
        var out: String
        @Option(help: "Which split: train, validation or test.")
        var split: String = "train"
        @Flag(help: "Export the targets instead of the inputs (equal for auto-encoder data).")
        var targets = false

        func checkArguments() throws {
            guard Dataset.Split(rawValue: split) != nil else { throw ValidationError("--split must be train, validation or test, got '\(split)'") }
        }

        func run() throws {
            try checkArguments()
            let dataset = try source.load()
            guard let s = Dataset.Split(rawValue: split), let m = targets ? dataset.targets(s) : dataset.inputs(s) else {
                throw CommandFailure("\(dataset.name) has no '\(split)' split; choose another --split")
            }
            do {
                try NPY.write(m, to: URL(fileURLWithPath: out))
            } catch let DatasetError.unwritable(path, reason) {
                throw CommandFailure(OutputFolder.unwritable("--out", out, path: path, reason: reason))
            }
            standardError("hf: wrote \(m.rows)x\(m.columns) \(split) matrix to \(out)")
        }
    }
}

extension DataCommand {
    struct Download: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch MNIST or the Olivetti faces (the source of FACES) into the data folder, checking each file's sha256.",
            discussion: """
            Default mirrors are tried in order (MNIST: the copies PyTorch and TensorFlow use, then \
            LeCun's site); --mirror or $\(DownloadableDataset.mirrorVariable) replaces them with one base URL \
            (https://, http:// or file:///) holding the same file names. Files are checked, then moved \
            into place all together; a failed download leaves nothing behind, and an interrupted \
            one resumes where it stopped.
            """)

        @Option(help: "mnist or faces (CURVES is generated, FACES is built from the faces, by the other commands).")
        var dataset: String
        @Option(help: "Folder to put <dataset>/ in; default $HF_DATA_DIR, else ../shared/data, else ./data (where the other commands look).")
        var dataDir: String?
        @Option(help: "Base URL to fetch from instead of the default mirrors (also $\(DownloadableDataset.mirrorVariable)).")
        var mirror: String?

        func checkArguments() throws {
            guard DownloadableDataset.named(dataset) != nil else {
                throw ValidationError("--dataset must be mnist or faces, got '\(dataset)'" + (dataset == "curves" ? " (CURVES is generated, not downloaded)" : ""))
            }
            if let mirror, !Self.isURL(mirror) {
                throw ValidationError("--mirror must be a URL (https://..., http://... or file:///...), got '\(mirror)'")
            }
        }

        static func isURL(_ text: String) -> Bool {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else { return false }
            return ["http", "https", "file"].contains(scheme)
        }

        func run() throws {
            try checkArguments()
            let data = DownloadableDataset.named(dataset)!
            var mirrors = data.mirrors
            if let mirror { mirrors = [mirror] }
            else if let variable = ProcessInfo.processInfo.environment[DownloadableDataset.mirrorVariable], !variable.isEmpty {
                guard Self.isURL(variable) else {
                    throw ValidationError("$\(DownloadableDataset.mirrorVariable) must be a URL (https://..., http://... or file:///...), got '\(variable)'")
                }
                mirrors = [variable]
            }
            let locations = DataLocations.resolve(dataDirectory: dataDir)
            let showsBar = isatty(STDERR_FILENO) != 0
            var current = ""
            let outcome = try DataDownloader(mirrors: mirrors).download(data, into: locations.dataDirectory) { event in
                switch event {
                case .fetching(let file, let index, let count, let url):
                    current = "\(index + 1)/\(count) \(file)"
                    if !showsBar && index == 0 { standardError("hf: fetching \(count) files from \(url.dropLast(file.count + 1))") }
                case .bytes(let done, let total):
                    guard showsBar else { return }
                    let bar = total.map { ProgressBar.render(completed: done, total: $0, width: 30, label: current) }
                        ?? "\(current) \(done) bytes"
                    FileHandle.standardError.write(Data(("\r\u{1B}[2K" + bar).utf8))
                case .retrying(let message):
                    if showsBar { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
                    standardError("hf: \(message)")
                }
            }
            if showsBar { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            if outcome.fetched == 0 {
                standardError("hf: \(data.name): all \(outcome.alreadyPresent) files already in \(outcome.folder.path), checksums good")
            } else {
                standardError(String(format: "hf: %@: %d files (%.1f MB) fetched and checked into %@", data.name, outcome.fetched,
                                     Double(outcome.bytesFetched) / 1e6, outcome.folder.path)
                              + (outcome.alreadyPresent > 0 ? " (\(outcome.alreadyPresent) were already there)" : ""))
            }
        }
    }
}

/// One line to the standard error stream.
fileprivate func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
