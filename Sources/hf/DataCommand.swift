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
        subcommands: [Summary.self, Show.self, Export.self]
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

        @Option(help: "Scaling of a user's file: 'none' or a number to divide by (e.g. 255).")
        var scale: String = "none"

        /// Loads the data set, printing progress and the load time to stderr.
        func load() throws -> Dataset {
            guard let scaling = Scaling(argument: scale) else {
                throw ValidationError("--scale must be 'none' or a positive number, got '\(scale)'")
            }
            let locations = DataLocations.resolve(dataDirectory: dataDir, cacheDirectory: cacheDir)
            let start = Date()
            do {
                let dataset = try Dataset.load(named: dataset, locations: locations, curvesSeed: seed, scaling: scaling,
                                               progress: { standardError("hf: \($0)") })
                standardError(String(format: "hf: %@ loaded in %.1f s", dataset.name, Date().timeIntervalSince(start)))
                return dataset
            } catch let error as DatasetError {
                standardError("hf: \(error)")
                throw ExitCode.failure
            }
        }
    }

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print sizes and statistics of a data set.")
        @OptionGroup var source: Source
        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            let summary = try source.load().summary()
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

        func run() throws {
            guard count > 0, columns > 0, zoom > 0, zoom <= 16 else {
                throw ValidationError("--count and --columns must be positive, --zoom in 1...16")
            }
            let dataset = try source.load()
            guard let s = Dataset.Split(rawValue: split), let m = dataset.inputs(s), m.rows > 0 else {
                throw ValidationError("\(dataset.name) has no '\(split)' cases")
            }
            guard let w = dataset.imageWidth, let h = dataset.imageHeight else {
                throw ValidationError("\(dataset.name) has no image shape to show")
            }
            if let first, first < 0 || first >= m.rows {
                throw ValidationError("--first must be in 0..<\(m.rows)")
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
            do {
                try png.write(to: URL(fileURLWithPath: out))
            } catch {
                standardError("hf: \(out): cannot write: \(error.localizedDescription)")
                throw ExitCode.failure
            }
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

        func run() throws {
            let dataset = try source.load()
            guard let s = Dataset.Split(rawValue: split), let m = targets ? dataset.targets(s) : dataset.inputs(s) else {
                throw ValidationError("\(dataset.name) has no '\(split)' split")
            }
            do {
                try NPY.write(m, to: URL(fileURLWithPath: out))
            } catch {
                standardError("hf: \(error)")
                throw ExitCode.failure
            }
            standardError("hf: wrote \(m.rows)x\(m.columns) \(split) matrix to \(out)")
        }
    }
}

/// One line to the standard error stream.
fileprivate func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
