import Foundation
import LinearAlgebra

/// One named tensor of a safetensors file: element type, shape (row-major, outermost first)
/// and the raw little-endian bytes.
public struct SafeTensor: Equatable, Sendable {
    /// The element types this package writes and reads (safetensors names "F32", "F64").
    public enum DType: String, Sendable, CaseIterable {
        case float32 = "F32"
        case float64 = "F64"
        /// Bytes per element.
        public var byteCount: Int { self == .float32 ? 4 : 8 }
    }

    public var name: String
    public var dtype: DType
    /// Dimensions, outermost first; `[]` is a scalar (one element).
    public var shape: [Int]
    /// `elementCount * dtype.byteCount` little-endian bytes.
    public var data: Data

    /// Number of elements: the product of `shape` (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// A tensor of Float values; `values.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "SafeTensor \(name): negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == values.count,
                     "SafeTensor \(name): shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.name = name
        self.dtype = .float32
        self.shape = shape
        self.data = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
    }

    /// A tensor of Double values; `values.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], values: [Double]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "SafeTensor \(name): negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == values.count,
                     "SafeTensor \(name): shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.name = name
        self.dtype = .float64
        self.shape = shape
        self.data = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
    }

    /// A tensor of `Float` or `Double` values (the two `BLASScalar` types).
    public init<Scalar: BLASScalar>(name: String, shape: [Int], scalars: [Scalar]) {
        if let floats = scalars as? [Float] {
            self.init(name: name, shape: shape, values: floats)
        } else if let doubles = scalars as? [Double] {
            self.init(name: name, shape: shape, values: doubles)
        } else {
            preconditionFailure("SafeTensor \(name): unsupported element type \(Scalar.self)")
        }
    }

    /// Raw bytes with a given type and shape, as read from a file; `data.count` must match.
    init(name: String, dtype: DType, shape: [Int], data: Data) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// The elements as Float (Double tensors are rounded to Float).
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return littleEndianWords(UInt32.self).map { Float(bitPattern: $0) }
        case .float64: return doubles().map { Float($0) }
        }
    }

    /// The elements as Double (Float tensors are widened exactly).
    public func doubles() -> [Double] {
        switch dtype {
        case .float32: return floats().map { Double($0) }
        case .float64: return littleEndianWords(UInt64.self).map { Double(bitPattern: $0) }
        }
    }

    /// The elements as `Scalar` (`Float` or `Double`), exact when `Scalar` matches `dtype`.
    public func scalars<Scalar: BLASScalar>(as type: Scalar.Type = Scalar.self) -> [Scalar] {
        if Scalar.self == Float.self { return floats() as! [Scalar] }
        if Scalar.self == Double.self { return doubles() as! [Scalar] }
        return doubles().map { Scalar($0) }
    }

    private func littleEndianWords<Word: FixedWidthInteger>(_ type: Word.Type) -> [Word] {
        let count = data.count / MemoryLayout<Word>.size
        var words = [Word](repeating: 0, count: count)
        words.withUnsafeMutableBytes { destination in
            _ = data.copyBytes(to: destination)
        }
        return words.map { Word(littleEndian: $0) }
    }
}

/// The tensors and metadata of one safetensors file.
public struct SafeTensorsFile: Equatable, Sendable {
    /// Tensors in the order of their bytes in the file.
    public var tensors: [SafeTensor]
    /// The header's `__metadata__` string map (empty when absent).
    public var metadata: [String: String]

    public init(tensors: [SafeTensor], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The tensor called `name`, if any.
    public subscript(name: String) -> SafeTensor? { tensors.first { $0.name == name } }
}

/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length N; N bytes of JSON header mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the data section) plus an
/// optional `"__metadata__"` string map; then the data section, every tensor's little-endian
/// bytes, back to back with no holes. The header is padded with spaces to a multiple of 8
/// bytes so the data section is aligned.
///
/// Only F32 and F64 tensors are supported: the parameters of this package's networks.
public enum SafeTensors {
    /// The largest header accepted on read, as in the reference implementation (100 MB); a
    /// larger length means the file is not safetensors.
    public static let maximumHeaderLength = 100_000_000

    /// The file's bytes: header then `tensors`' data in the order given. Tensor names must be
    /// unique and not `__metadata__`. The data section starts 8-byte aligned; to keep every
    /// tensor aligned for zero-copy readers when F32 and F64 are mixed, pass the F64 tensors
    /// first (readers that copy, including this one, do not care).
    public static func encode(_ tensors: [SafeTensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in tensors {
            precondition(tensor.name != "__metadata__", "safetensors: tensor name __metadata__ is reserved")
            precondition(header[tensor.name] == nil, "safetensors: duplicate tensor name \(tensor.name)")
            precondition(tensor.data.count == tensor.elementCount * tensor.dtype.byteCount,
                         "safetensors: tensor \(tensor.name) has \(tensor.data.count) bytes for shape \(tensor.shape)")
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape,
                                   "data_offsets": [offset, offset + tensor.data.count]] as [String: Any]
            offset += tensor.data.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        // Encoding a dictionary of strings, integers and arrays of them cannot fail.
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var file = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        for tensor in tensors { file.append(tensor.data) }
        return file
    }

    /// Writes `tensors` atomically to `url` (see `encode(_:metadata:)`).
    public static func write(_ tensors: [SafeTensor], metadata: [String: String] = [:], to url: URL) throws {
        do {
            try AtomicFile.write(encode(tensors, metadata: metadata), to: url)
        } catch {
            throw ReportingError.wrapping(error, file: url.path)
        }
    }

    /// Reads and validates the safetensors file at `url`.
    public static func read(from url: URL) throws -> SafeTensorsFile {
        let data = try AtomicFile.read(from: url)
        return try decode(data, file: url.path)
    }

    /// Parses and validates safetensors bytes; errors name `file`. Checks: the header length
    /// fits the file and the limit; the header is a JSON object; every entry has a supported
    /// dtype, a non-negative shape and offsets whose span equals shape x element size; the
    /// tensors tile the data section exactly (no overlap, no hole, nothing past the end).
    public static func decode(_ data: Data, file: String) throws -> SafeTensorsFile {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else {
            throw ReportingError.truncated(file, expectedBytes: 8, actualBytes: bytes.count)
        }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw ReportingError.malformed(file, reason: "safetensors header length \(headerLength) exceeds \(maximumHeaderLength) bytes; not a safetensors file")
        }
        let n = Int(headerLength)
        guard n >= 2 else {
            throw ReportingError.malformed(file, reason: "safetensors header length \(n) is too small for a JSON object")
        }
        guard bytes.count >= 8 + n else {
            throw ReportingError.truncated(file, expectedBytes: 8 + n, actualBytes: bytes.count)
        }
        let headerBytes = Data(bytes[8..<(8 + n)])
        guard headerBytes.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: headerBytes),
              let header = object as? [String: Any] else {
            throw ReportingError.malformed(file, reason: "safetensors header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let rawMetadata = header["__metadata__"] {
            guard let map = rawMetadata as? [String: Any],
                  let strings = map as? [String: String] else {
                throw ReportingError.malformed(file, reason: "safetensors __metadata__ is not a map of strings")
            }
            metadata = strings
        }
        let dataSize = bytes.count - 8 - n
        var entries: [(name: String, dtype: SafeTensor.DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            func bad(_ reason: String) -> ReportingError {
                .malformed(file, reason: "safetensors tensor \"\(name)\": \(reason)")
            }
            guard let entry = value as? [String: Any] else { throw bad("entry is not a JSON object") }
            guard let dtypeName = entry["dtype"] as? String else { throw bad("missing dtype") }
            guard let dtype = SafeTensor.DType(rawValue: dtypeName) else {
                throw bad("unsupported dtype \(dtypeName) (supported: F32, F64)")
            }
            guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("shape is not a list of non-negative integers")
            }
            guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
                throw bad("data_offsets is not a pair of integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else { throw bad("data_offsets [\(begin), \(end)] are out of order") }
            guard end <= dataSize else {
                throw ReportingError.truncated(file, expectedBytes: 8 + n + end, actualBytes: bytes.count)
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, elements <= Int.max / dtype.byteCount, elements * dtype.byteCount == end - begin else {
                throw bad("shape \(shape) of \(dtypeName) needs \(overflow ? "too many" : String(elements * dtype.byteCount)) bytes, data_offsets span \(end - begin)")
            }
            entries.append((name, dtype, shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for entry in entries {
            guard entry.begin == covered else {
                let problem = entry.begin < covered ? "overlaps the previous tensor" : "leaves a hole of \(entry.begin - covered) bytes before it"
                throw ReportingError.malformed(file, reason: "safetensors tensor \"\(entry.name)\" at offset \(entry.begin) \(problem)")
            }
            covered = entry.end
        }
        guard covered == dataSize else {
            throw ReportingError.malformed(file, reason: "safetensors data section has \(dataSize - covered) bytes not covered by any tensor")
        }
        let base = 8 + n
        let tensors = entries.map {
            SafeTensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, data: Data(bytes[(base + $0.begin)..<(base + $0.end)]))
        }
        return SafeTensorsFile(tensors: tensors, metadata: metadata)
    }

    /// A JSON array of integers (exact: 2.5 is rejected), else nil.
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for element in array {
            guard let number = element as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 9e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}
