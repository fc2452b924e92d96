import Foundation

/// Whole-file JSON documents of a run folder (`config.json`, `optimizer_state.json`): any
/// `Codable` value, pretty-printed with sorted keys, non-finite numbers as in `JSONCoding`,
/// written atomically (`AtomicFile`) so a reader never sees half a file.
public enum JSONFile {
    /// Encodes `value` and writes it atomically to `url`, creating the directory if needed.
    public static func write<Value: Encodable>(_ value: Value, to url: URL) throws {
        do {
            var data = try JSONCoding.encoder(pretty: true).encode(value)
            data.append(UInt8(ascii: "\n"))
            try AtomicFile.write(data, to: url)
        } catch {
            throw ReportingError.wrapping(error, file: url.path)
        }
    }

    /// Reads and decodes `url` as a `Value`; a missing file, unreadable file or JSON that does
    /// not match `Value` is a `ReportingError` naming the file.
    public static func read<Value: Decodable>(_ type: Value.Type, from url: URL) throws -> Value {
        let data = try AtomicFile.read(from: url)
        do {
            return try JSONCoding.decoder().decode(type, from: data)
        } catch {
            throw ReportingError.malformed(url.path, reason: ReportingError.oneLine(error))
        }
    }
}

/// The files of one run folder (`hf train --out DIR`), by name, so the trainer, the resumer
/// and the reporter agree on them.
public struct RunFolder: Sendable, Equatable {
    /// The run folder itself.
    public var url: URL

    public init(_ url: URL) { self.url = url }

    /// `config.json`: the whole resolved configuration, seed and tool version.
    public var configuration: URL { url.appendingPathComponent("config.json") }
    /// `metrics.jsonl`: one `MetricsRecord` per iteration.
    public var metrics: URL { url.appendingPathComponent(MetricsLog.fileName) }
    /// `checkpoint/`: the latest `Checkpoint` (parameters and optimizer state).
    public var checkpoint: URL { url.appendingPathComponent("checkpoint") }

    /// Writes the run's configuration (any `Encodable`) atomically to `config.json`.
    public func writeConfiguration<Configuration: Encodable>(_ configuration: Configuration) throws {
        try JSONFile.write(configuration, to: self.configuration)
    }

    /// Reads `config.json` as `Configuration`.
    public func readConfiguration<Configuration: Decodable>(_ type: Configuration.Type) throws -> Configuration {
        try JSONFile.read(type, from: configuration)
    }

    /// Reads `metrics.jsonl` (a truncated last line is dropped).
    public func readMetrics() throws -> [MetricsRecord] {
        try MetricsLog.read(from: metrics)
    }
}
