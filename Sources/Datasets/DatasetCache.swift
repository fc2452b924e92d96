import CZlib
import Foundation
import LinearAlgebra

/// The cache of derived data sets (built CURVES and FACES).
///
/// One file per entry: the 8 bytes `HFDATA01`, a little-endian UInt32 header length, a JSON
/// header (`CacheHeader`), then each split's values as little-endian float32, row-major, in
/// the header's order. The header records the recipe version, the seed, a fingerprint of the
/// source files and a CRC-32 of the payload; an entry that disagrees with what is asked for, or
/// whose payload fails its checksum, is rebuilt. Entries are written to a temporary file and
/// renamed into place, so a reader never sees a partial entry.
public enum DatasetCache {
    static let magic: [UInt8] = Array("HFDATA01".utf8)

    /// What an entry must match to be reused.
    public struct Key: Codable, Sendable, Equatable {
        /// The data set and recipe version, e.g. "curves-v1".
        public var recipe: String
        public var seed: UInt64
        /// A digest of the source files (empty for purely synthetic data).
        public var sourceFingerprint: String

        public init(recipe: String, seed: UInt64, sourceFingerprint: String = "") {
            self.recipe = recipe; self.seed = seed; self.sourceFingerprint = sourceFingerprint
        }
        /// The entry's file name.
        var fileName: String { "\(recipe)-seed\(seed).hfdata" }
    }

    struct SplitHeader: Codable { var name: String; var rows: Int; var columns: Int }

    struct CacheHeader: Codable {
        var key: Key
        var name: String
        var imageWidth: Int?
        var imageHeight: Int?
        var splits: [SplitHeader]
        /// CRC-32 (zlib) of the payload bytes.
        var checksum: UInt32
    }

    /// The entry's path under `directory`.
    public static func url(for key: Key, in directory: URL) -> URL {
        directory.appendingPathComponent(key.fileName)
    }

    /// CRC-32 of `raw` continuing from `start`.
    static func crc(_ raw: UnsafeRawBufferPointer, continuing start: UInt32) -> UInt32 {
        var c = UInt(start)
        var offset = 0
        guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return start }
        while offset < raw.count {
            let n = min(raw.count - offset, 1 << 30)
            c = crc32(c, base + offset, UInt32(n))
            offset += n
        }
        return UInt32(c)
    }

    /// CRC-32 of the used values of `m` continuing from `start`.
    static func crc(_ m: Matrix<Float>, continuing start: UInt32) -> UInt32 {
        m.storage.withUnsafeBytes { crc(UnsafeRawBufferPointer(rebasing: $0[0..<(m.rows * m.columns * 4)]), continuing: start) }
    }

    /// Splits in the order they are stored.
    static func splits(of d: Dataset) -> [(String, Matrix<Float>)] {
        var s: [(String, Matrix<Float>)] = [("train", d.train)]
        if let v = d.validation { s.append(("validation", v)) }
        s.append(("test", d.test))
        return s
    }

    /// Writes `dataset` as the entry for `key` (atomically).
    public static func store(_ dataset: Dataset, key: Key, in directory: URL) throws {
        let parts = splits(of: dataset)
        var checksum: UInt32 = 0
        for (_, m) in parts { checksum = crc(m, continuing: checksum) }
        let header = CacheHeader(key: key, name: dataset.name, imageWidth: dataset.imageWidth, imageHeight: dataset.imageHeight,
                                 splits: parts.map { SplitHeader(name: $0.0, rows: $0.1.rows, columns: $0.1.columns) },
                                 checksum: checksum)
        let json = try JSONEncoder().encode(header)
        var prefix = Data(magic)
        var length = UInt32(json.count).littleEndian
        prefix.append(Data(bytes: &length, count: 4))
        prefix.append(json)
        try AtomicWrite.write(to: url(for: key, in: directory)) { handle in
            try handle.write(contentsOf: prefix)
            for (_, m) in parts {
                try m.storage.withUnsafeBytes { raw in
                    let used = m.rows * m.columns * 4
                    var offset = 0
                    while offset < used {
                        let n = min(used - offset, 64 << 20)
                        try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress! + offset),
                                                          count: n, deallocator: .none))
                        offset += n
                    }
                }
            }
        }
    }

    /// The entry for `key`, or `nil` (with the reason) when it is absent, stale or corrupt.
    public static func load(key: Key, in directory: URL) -> (dataset: Dataset?, reason: String) {
        let file = url(for: key, in: directory)
        guard FileManager.default.fileExists(atPath: file.path) else { return (nil, "no cache entry") }
        guard let data = try? Data(contentsOf: file, options: .alwaysMapped) else { return (nil, "cache entry unreadable") }
        guard data.count >= 12, Array(data.prefix(8)) == magic else { return (nil, "cache entry has a bad header") }
        let length = data.subdata(in: 8..<12).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard data.count >= 12 + Int(length),
              let header = try? JSONDecoder().decode(CacheHeader.self, from: data.subdata(in: 12..<(12 + Int(length)))) else {
            return (nil, "cache entry has a bad header")
        }
        guard header.key == key else { return (nil, "cache entry was built by another recipe, seed or source") }
        var offset = 12 + Int(length)
        let expected = header.splits.reduce(offset) { $0 + $1.rows * $1.columns * 4 }
        guard data.count == expected else { return (nil, "cache entry has \(data.count) bytes, expected \(expected)") }
        var matrices = [String: Matrix<Float>]()
        var checksum: UInt32 = 0
        for s in header.splits {
            let count = s.rows * s.columns
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { out in
                data.withUnsafeBytes { raw in
                    if count > 0 { out.baseAddress!.copyMemory(from: raw.baseAddress! + offset, byteCount: count * 4) }
                }
            }
            offset += count * 4
            let m = Matrix(rows: s.rows, columns: s.columns, elements: values)
            checksum = crc(m, continuing: checksum)
            matrices[s.name] = m
        }
        guard checksum == header.checksum else { return (nil, "cache entry fails its checksum") }
        guard let train = matrices["train"], let test = matrices["test"] else { return (nil, "cache entry lacks a split") }
        if let w = header.imageWidth, let h = header.imageHeight, w * h != train.columns { return (nil, "cache entry has a bad image shape") }
        let dataset = Dataset(name: header.name, train: train, validation: matrices["validation"], test: test,
                              imageWidth: header.imageWidth, imageHeight: header.imageHeight)
        return (dataset, "cache entry matches")
    }

    /// The cached entry for `key`, or `build()`'s result, which is then stored.
    static func cached(key: Key, in directory: URL, progress: ProgressHandler?, build: () throws -> Dataset) throws -> Dataset {
        let (hit, reason) = load(key: key, in: directory)
        if let hit {
            progress?("\(key.recipe): read from cache \(url(for: key, in: directory).path)")
            return hit
        }
        progress?("\(key.recipe): building (\(reason))")
        let built = try build()
        do {
            try store(built, key: key, in: directory)
            progress?("\(key.recipe): cached in \(url(for: key, in: directory).path)")
        } catch {
            // A read-only or full cache directory costs a rebuild next time, not this run.
            progress?("\(key.recipe): not cached: \(error)")
        }
        return built
    }
}
