import Foundation

/// A saved training state: the parameters as named tensors plus the optimizer's state (any
/// `Codable`: previous CG direction, lambda, mini-batch permutation and position, random
/// state, ...), enough to resume a run bit for bit.
///
/// On disk a checkpoint is a directory holding `parameters.safetensors` and
/// `optimizer_state.json`, replaced as a unit: `write(to:)` fills a temporary sibling
/// directory, moves the old checkpoint aside to `.<name>.previous`, renames the new one into
/// place and then deletes the old one. If the process dies between the two renames only the
/// `.previous` copy exists, and `read(from:)` falls back to it; if writing fails, the old
/// checkpoint is untouched.
public struct Checkpoint<OptimizerState: Codable> {
    /// Named parameter tensors (one per layer weight and bias, or one flat vector) and the
    /// safetensors metadata (e.g. architecture, step).
    public var parameters: SafeTensorsFile
    /// The optimizer's state, stored as pretty-printed JSON (non-finite numbers as strings).
    public var optimizerState: OptimizerState

    public init(parameters: SafeTensorsFile, optimizerState: OptimizerState) {
        self.parameters = parameters
        self.optimizerState = optimizerState
    }

    public init(tensors: [SafeTensor], metadata: [String: String] = [:], optimizerState: OptimizerState) {
        self.init(parameters: SafeTensorsFile(tensors: tensors, metadata: metadata), optimizerState: optimizerState)
    }

    /// Writes the checkpoint as the directory `directory`, atomically replacing any
    /// checkpoint already there (see the type's documentation).
    public func write(to directory: URL) throws {
        let fileManager = FileManager.default
        let directory = directory.standardizedFileURL
        let parent = directory.deletingLastPathComponent()
        let name = directory.lastPathComponent
        let staging = parent.appendingPathComponent(".\(name).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try fileManager.createDirectory(at: parent, withIntermediateDirectories: true)
            try CheckpointLayout.removeStalePartials(of: name, in: parent)
            try fileManager.createDirectory(at: staging, withIntermediateDirectories: false)
            let state = try JSONCoding.encoder(pretty: true).encode(optimizerState)
            try CheckpointLayout.writeDurably(SafeTensors.encode(parameters.tensors, metadata: parameters.metadata),
                                              to: staging.appendingPathComponent(CheckpointLayout.parametersFileName))
            try CheckpointLayout.writeDurably(state, to: staging.appendingPathComponent(CheckpointLayout.optimizerStateFileName))
        } catch {
            try? fileManager.removeItem(at: staging)
            throw ReportingError.io(directory.path, reason: "cannot write checkpoint: \(ReportingError.oneLine(error))")
        }
        let previous = CheckpointLayout.previous(of: directory)
        let hadOld = fileManager.fileExists(atPath: directory.path)
        if hadOld {
            try? fileManager.removeItem(at: previous)
            guard rename(directory.path, previous.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fileManager.removeItem(at: staging)
                throw ReportingError.io(directory.path, reason: "cannot move old checkpoint aside: \(reason)")
            }
        }
        guard rename(staging.path, directory.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if hadOld { _ = rename(previous.path, directory.path) }
            try? fileManager.removeItem(at: staging)
            throw ReportingError.io(directory.path, reason: "cannot move new checkpoint into place: \(reason)")
        }
        // Also removes a `.previous` copy left by an earlier interrupted replacement.
        try? fileManager.removeItem(at: previous)
    }

    /// Reads the checkpoint in `directory` (or its `.previous` copy when a replacement was
    /// interrupted), checking that both files are present and valid.
    public static func read(from directory: URL) throws -> Checkpoint {
        let fileManager = FileManager.default
        var source = directory.standardizedFileURL
        var isDirectory: ObjCBool = false
        if !fileManager.fileExists(atPath: source.path, isDirectory: &isDirectory) {
            let previous = CheckpointLayout.previous(of: source)
            guard fileManager.fileExists(atPath: previous.path, isDirectory: &isDirectory) else {
                throw ReportingError.missingFile(directory.path)
            }
            source = previous
        }
        guard isDirectory.boolValue else {
            throw ReportingError.malformed(source.path, reason: "not a checkpoint directory (expected \(CheckpointLayout.parametersFileName) and \(CheckpointLayout.optimizerStateFileName) inside)")
        }
        let parametersURL = source.appendingPathComponent(CheckpointLayout.parametersFileName)
        let stateURL = source.appendingPathComponent(CheckpointLayout.optimizerStateFileName)
        for url in [parametersURL, stateURL] where !fileManager.fileExists(atPath: url.path) {
            throw ReportingError.missingFile(url.path)
        }
        let parameters = try SafeTensors.read(from: parametersURL)
        let state = try JSONFile.read(OptimizerState.self, from: stateURL)
        return Checkpoint(parameters: parameters, optimizerState: state)
    }
}

extension Checkpoint: Equatable where OptimizerState: Equatable {}
extension Checkpoint: Sendable where OptimizerState: Sendable {}

/// File names of a checkpoint directory.
public enum CheckpointLayout {
    /// The parameters, one safetensors tensor per name.
    public static let parametersFileName = "parameters.safetensors"
    /// The optimizer state, JSON.
    public static let optimizerStateFileName = "optimizer_state.json"

    /// Writes `data` to a new file and waits for it to reach the storage device, so the
    /// rename that publishes the checkpoint never points at data still in the page cache.
    static func writeDurably(_ data: Data, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ReportingError.io(url.path, reason: "cannot create file")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }

    /// Where the old checkpoint sits while a new one is moved into place.
    static func previous(of directory: URL) -> URL {
        directory.deletingLastPathComponent().appendingPathComponent(".\(directory.lastPathComponent).previous")
    }

    /// Removes temporary directories left by writers of `name` that died before renaming.
    static func removeStalePartials(of name: String, in parent: URL) throws {
        let prefix = ".\(name).partial-"
        for entry in try FileManager.default.contentsOfDirectory(atPath: parent.path) where entry.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(entry))
        }
    }
}
