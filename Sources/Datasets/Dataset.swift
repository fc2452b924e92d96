import Foundation
import LinearAlgebra

/// A data set as the trainer consumes it: matrices of cases x dimension, row-major (row `i` is
/// case `i`, one image flattened row by row). Auto-encoders use the inputs as targets, so
/// `*Targets` are `nil` for the paper's three data sets.
public struct Dataset: Sendable {
    /// Which part of a data set.
    public enum Split: String, Sendable, CaseIterable, Codable {
        case train, validation, test
    }

    /// A short name ("mnist", "curves", "faces", or a file's name for user data).
    public var name: String
    /// Training inputs, cases x dimension.
    public var train: Matrix<Float>
    /// Held-out inputs for choosing settings (FACES: people 26-30), cases x dimension.
    public var validation: Matrix<Float>?
    /// Test inputs, cases x dimension; zero rows when the user gave no test set.
    public var test: Matrix<Float>
    /// Training targets, cases x outputs; `nil` means the targets are the inputs.
    public var trainTargets: Matrix<Float>?
    public var validationTargets: Matrix<Float>?
    public var testTargets: Matrix<Float>?
    /// Class labels where the source has them (MNIST digits 0-9).
    public var trainLabels: [Int]?
    public var testLabels: [Int]?
    /// How to show one case as an image (`width * height == dimension`), when it is one.
    public var imageWidth: Int?
    public var imageHeight: Int?

    /// The number of input values per case.
    public var dimension: Int { train.columns }
    /// True when the targets are the inputs (auto-encoder data).
    public var isAutoencoder: Bool { trainTargets == nil }

    public init(name: String, train: Matrix<Float>, validation: Matrix<Float>? = nil, test: Matrix<Float>,
                trainTargets: Matrix<Float>? = nil, validationTargets: Matrix<Float>? = nil, testTargets: Matrix<Float>? = nil,
                trainLabels: [Int]? = nil, testLabels: [Int]? = nil, imageWidth: Int? = nil, imageHeight: Int? = nil) {
        precondition(test.rows == 0 || test.columns == train.columns, "test has \(test.columns) columns, train \(train.columns)")
        precondition(validation.map { $0.columns == train.columns } ?? true, "validation and train columns differ")
        precondition(imageWidth.map { $0 * (imageHeight ?? 0) == train.columns } ?? true, "image shape does not match dimension")
        self.name = name; self.train = train; self.validation = validation; self.test = test
        self.trainTargets = trainTargets; self.validationTargets = validationTargets; self.testTargets = testTargets
        self.trainLabels = trainLabels; self.testLabels = testLabels
        self.imageWidth = imageWidth; self.imageHeight = imageHeight
    }

    /// The inputs of `split` (`nil` for a missing validation set).
    public func inputs(_ split: Split) -> Matrix<Float>? {
        switch split {
        case .train: return train
        case .validation: return validation
        case .test: return test
        }
    }

    /// The targets of `split`: the inputs themselves for auto-encoder data.
    public func targets(_ split: Split) -> Matrix<Float>? {
        switch split {
        case .train: return trainTargets ?? train
        case .validation: return validationTargets ?? validation
        case .test: return testTargets ?? test
        }
    }
}

/// The paper's three benchmark data sets (Table 1).
public enum BenchmarkDataset: String, Sendable, CaseIterable, Codable {
    case mnist, curves, faces

    /// Table 1: training-set size, curvature mini-batch size K, encoder layer sizes.
    public var table1: (trainingCases: Int, minibatchSize: Int, encoder: [Int]) {
        switch self {
        case .curves: return (20000, 5000, [784, 400, 200, 100, 50, 25, 6])
        case .mnist: return (60000, 7500, [784, 1000, 500, 250, 30])
        case .faces: return (103500, 5175, [625, 2000, 1000, 500, 30])
        }
    }
}

/// Where source data is read and derived data is cached.
///
/// The data directory holds source files (`mnist/`, `att_faces/`) and may be read-only; built
/// data (CURVES, FACES) goes to the cache directory only.
public struct DataLocations: Sendable, Equatable {
    public var dataDirectory: URL
    public var cacheDirectory: URL

    public init(dataDirectory: URL, cacheDirectory: URL) {
        self.dataDirectory = dataDirectory; self.cacheDirectory = cacheDirectory
    }

    /// Resolves the directories: an explicit value wins, then the environment (`HF_DATA_DIR`,
    /// `HF_CACHE_DIR`), then the defaults: `../shared/data` relative to `currentDirectory`
    /// (or `./data` when that does not exist) and `$XDG_CACHE_HOME/hessianfree` or
    /// `~/.cache/hessianfree`.
    public static func resolve(dataDirectory: String? = nil, cacheDirectory: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               currentDirectory: String = FileManager.default.currentDirectoryPath) -> DataLocations {
        let base = URL(fileURLWithPath: currentDirectory, isDirectory: true)
        func path(_ p: String) -> URL { URL(fileURLWithPath: p, isDirectory: true, relativeTo: base).standardizedFileURL }
        let data: URL
        if let d = dataDirectory ?? environment["HF_DATA_DIR"], !d.isEmpty {
            data = path(d)
        } else {
            let shared = path("../shared/data")
            data = FileManager.default.fileExists(atPath: shared.path) ? shared : path("data")
        }
        let cache: URL
        if let c = cacheDirectory ?? environment["HF_CACHE_DIR"], !c.isEmpty {
            cache = path(c)
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            cache = path(xdg).appendingPathComponent("hessianfree", isDirectory: true)
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            cache = path(home).appendingPathComponent(".cache/hessianfree", isDirectory: true)
        }
        return DataLocations(dataDirectory: data, cacheDirectory: cache)
    }
}

/// Receives one-line progress messages from long builds (the tool prints them to stderr).
public typealias ProgressHandler = @Sendable (String) -> Void

extension Dataset {
    /// Loads one of the paper's data sets: MNIST read from `<data>/mnist`, CURVES generated
    /// (and cached) for `seed` and `curvesRecipe`, FACES built (and cached) from `<data>/att_faces`.
    public static func load(_ benchmark: BenchmarkDataset, locations: DataLocations,
                            curvesSeed: UInt64 = Curves.defaultSeed, curvesRecipe: Curves.Recipe = .latest,
                            progress: ProgressHandler? = nil) throws -> Dataset {
        switch benchmark {
        case .mnist:
            return try MNIST.load(from: locations.dataDirectory.appendingPathComponent("mnist", isDirectory: true))
        case .curves:
            return try Curves.load(seed: curvesSeed, recipe: curvesRecipe, cacheDirectory: locations.cacheDirectory, progress: progress)
        case .faces:
            return try Faces.load(source: locations.dataDirectory.appendingPathComponent("att_faces", isDirectory: true),
                                  cacheDirectory: locations.cacheDirectory, progress: progress)
        }
    }

    /// Loads a data set by name: "mnist", "curves", "faces", or a path to a `.npy` or `.csv`
    /// file of training inputs (an auto-encoder data set with no test set), scaled by `scaling`.
    public static func load(named name: String, locations: DataLocations,
                            curvesSeed: UInt64 = Curves.defaultSeed, curvesRecipe: Curves.Recipe = .latest,
                            scaling: Scaling = .none, progress: ProgressHandler? = nil) throws -> Dataset {
        if let benchmark = BenchmarkDataset(rawValue: name.lowercased()) {
            return try load(benchmark, locations: locations, curvesSeed: curvesSeed, curvesRecipe: curvesRecipe, progress: progress)
        }
        let lower = name.lowercased()
        guard lower.hasSuffix(".npy") || lower.hasSuffix(".csv") else { throw DatasetError.unknownDataset(name) }
        return try UserData.load(trainInputs: URL(fileURLWithPath: name), scaling: scaling)
    }
}

extension Dataset {
    /// This data set with its last `count` training cases moved to a validation set (with
    /// their targets and labels), for early stopping on data the optimizer never sees.
    ///
    /// The split is deterministic (the last cases, in file order): MNIST's training file, for
    /// one, is not sorted by class, so its last 10000 cases are a fair sample.
    public func holdingOut(lastTrainingCases count: Int) throws -> Dataset {
        guard validation == nil else {
            throw DatasetError.invalidArgument("data set '\(name)' already has a validation set; a validation split would replace it")
        }
        guard count >= 1, count < train.rows else {
            throw DatasetError.invalidArgument("a validation split of \(count) cases needs 1...\(train.rows - 1) (the training set has \(train.rows))")
        }
        let keep = train.rows - count
        func split(_ m: Matrix<Float>) -> (Matrix<Float>, Matrix<Float>) {
            (Matrix(rows: keep, columns: m.columns, elements: Array(m.storage[0..<(keep * m.columns)])),
             Matrix(rows: count, columns: m.columns, elements: Array(m.storage[(keep * m.columns)...])))
        }
        var d = self
        (d.train, d.validation) = split(train)
        if let t = trainTargets { (d.trainTargets, d.validationTargets) = split(t) }
        if let labels = trainLabels { d.trainLabels = Array(labels[0..<keep]) }
        return d
    }

    /// This data set with `inputs` (and `targets`) as its validation set, shapes checked
    /// against the training data. `source` names the file in errors.
    public func withValidation(inputs: Matrix<Float>, targets: Matrix<Float>?, source: String) throws -> Dataset {
        guard validation == nil else {
            throw DatasetError.invalidArgument("data set '\(name)' already has a validation set")
        }
        guard inputs.columns == train.columns else {
            throw DatasetError.shapeMismatch(source, reason: "\(inputs.columns) columns, training inputs have \(train.columns)")
        }
        if let t = targets {
            guard t.rows == inputs.rows else {
                throw DatasetError.shapeMismatch(source, reason: "\(t.rows) rows of targets for \(inputs.rows) validation cases")
            }
            guard let trainT = trainTargets, trainT.columns == t.columns else {
                throw DatasetError.shapeMismatch(source, reason: "validation targets of \(t.columns) columns do not match the training targets")
            }
        } else if trainTargets != nil {
            throw DatasetError.shapeMismatch(source, reason: "the training data have targets; give --validation-targets too")
        }
        var d = self
        d.validation = inputs
        d.validationTargets = targets
        return d
    }
}
