import Foundation

/// A run's `metrics.jsonl`: one `MetricsRecord` as a compact JSON object per line, appended
/// as the run goes.
///
/// Each `append` hands the whole line (newline included) to the operating system in one
/// `write`, so the file survives the process being killed; at worst a crash in the middle of
/// that write leaves a last line without its newline, which `read(from:)` drops and
/// `init(appendingTo:)` cuts off before appending. Lines reach the disk itself (fsync) only
/// when `synchronizeEachLine` is set: the durable points of a run are its checkpoints.
///
/// Resuming: `truncate(_:keepingIterationsThrough:)` to the checkpoint's iteration, then
/// `init(appendingTo:)`, so the file holds each iteration once.
public final class MetricsLog {
    /// The file being appended to.
    public let url: URL
    /// Whether `append` waits for each line to reach the storage device (fsync).
    public let synchronizeEachLine: Bool
    private let handle: FileHandle

    /// The conventional file name inside a run folder.
    public static let fileName = "metrics.jsonl"

    /// Opens `url` for appending, creating it (and its directory) when missing. A truncated
    /// last line left by a crash is removed first, so the next record starts on its own line.
    public init(appendingTo url: URL, synchronizeEachLine: Bool = false) throws {
        self.url = url
        self.synchronizeEachLine = synchronizeEachLine
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !fileManager.fileExists(atPath: url.path) {
                guard fileManager.createFile(atPath: url.path, contents: nil) else {
                    throw ReportingError.io(url.path, reason: "cannot create file")
                }
            }
            handle = try FileHandle(forUpdating: url)
            let existing = try handle.readToEnd() ?? Data()
            if let last = existing.last, last != UInt8(ascii: "\n") {
                let keep = existing.lastIndex(of: UInt8(ascii: "\n")).map { $0 - existing.startIndex + 1 } ?? 0
                try handle.truncate(atOffset: UInt64(keep))
            }
            try handle.seekToEnd()
        } catch {
            throw ReportingError.wrapping(error, file: url.path)
        }
    }

    deinit { try? handle.close() }

    /// Appends `record` as one line.
    public func append(_ record: MetricsRecord) throws {
        do {
            var line = try Self.encoder.encode(record)
            line.append(UInt8(ascii: "\n"))
            try handle.write(contentsOf: line)
            if synchronizeEachLine { try handle.synchronize() }
        } catch {
            throw ReportingError.wrapping(error, file: url.path)
        }
    }

    /// `record` as the JSON text of one line, without the newline: what `append` writes, and
    /// what `hf train --json` prints.
    public static func line(for record: MetricsRecord) throws -> String {
        String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    /// Compact, sorted keys, non-finite numbers as strings (see `JSONCoding`).
    private static var encoder: JSONEncoder { JSONCoding.encoder(pretty: false) }

    /// What `readContents(from:)` found.
    public struct Contents: Equatable, Sendable {
        /// The records, in file order.
        public var records: [MetricsRecord]
        /// True when the last line was cut short (no newline, not valid JSON) and was dropped.
        public var droppedTruncatedLastLine: Bool
    }

    /// Reads every record of `url`, dropping a truncated last line (see `readContents(from:)`).
    public static func read(from url: URL) throws -> [MetricsRecord] {
        try readContents(from: url).records
    }

    /// Reads every record of `url`. Blank lines are skipped. A last line that has no newline
    /// and does not decode is what a crash mid-append leaves, and is dropped; any other line
    /// that does not decode is an error naming the file and the line.
    public static func readContents(from url: URL) throws -> Contents {
        let data = try AtomicFile.read(from: url)
        let decoder = JSONCoding.decoder()
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var records: [MetricsRecord] = []
        var dropped = false
        for (index, line) in lines.enumerated() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) { continue }
            do {
                records.append(try decoder.decode(MetricsRecord.self, from: Data(line)))
            } catch {
                // Only the final piece can lack its newline: `split` yields it last.
                if index == lines.count - 1 {
                    dropped = true
                    continue
                }
                throw ReportingError.malformedLine(url.path, line: index + 1, reason: ReportingError.oneLine(error))
            }
        }
        return Contents(records: records, droppedTruncatedLastLine: dropped)
    }

    /// Rewrites `url` atomically keeping only records with `iteration <= lastIteration`, in
    /// order: what a resumed run does before appending, so iterations logged after its
    /// checkpoint are not duplicated. Returns the number of records kept.
    @discardableResult
    public static func truncate(_ url: URL, keepingIterationsThrough lastIteration: Int) throws -> Int {
        let kept = try read(from: url).filter { $0.iteration <= lastIteration }
        let encoder = JSONCoding.encoder(pretty: false)
        var data = Data()
        do {
            for record in kept {
                data.append(try encoder.encode(record))
                data.append(UInt8(ascii: "\n"))
            }
            try AtomicFile.write(data, to: url)
        } catch {
            throw ReportingError.wrapping(error, file: url.path)
        }
        return kept.count
    }
}
