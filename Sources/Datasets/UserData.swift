import Foundation
import LinearAlgebra

/// How values read from a user's file are scaled.
public enum Scaling: Sendable, Equatable, Codable {
    /// Keep the values as they are.
    case none
    /// Divide every value by a number (e.g. 255 for 8-bit pixels).
    case divide(by: Float)

    /// Parses "none" or a positive number ("255" means divide by 255).
    public init?(argument: String) {
        if argument.lowercased() == "none" { self = .none; return }
        guard let d = Float(argument), d.isFinite, d > 0 else { return nil }
        self = .divide(by: d)
    }

    func apply(_ m: inout Matrix<Float>) {
        if case .divide(let d) = self { for k in m.storage.indices { m.storage[k] /= d } }
    }
}

/// NPY files (NumPy's `.npy`, format versions 1-3): 2-D arrays in C order of float32, float64
/// or uint8, little- or big-endian.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Parses a 2-D array into a row-major Float matrix.
    /// - Parameter name: the file name used in error messages.
    public static func parse(_ data: [UInt8], name: String) throws -> Matrix<Float> {
        try data.withUnsafeBytes { try parse(raw: $0, name: name, shard: .whole).matrix }
    }

    /// Parses the block of rows `shard` holds (every row for `.whole`), and returns it with
    /// the array's full row count. The header and the file's size are checked in full; the
    /// values (and their finiteness) only in the block, so a mapped file is read only there.
    static func parse(raw data: UnsafeRawBufferPointer, name: String, shard: DataShard) throws -> (matrix: Matrix<Float>, totalRows: Int) {
        if data.isEmpty { throw DatasetError.malformed(name, reason: "empty file") }
        guard data.count >= 10 else { throw DatasetError.truncated(name, expectedBytes: 10, actualBytes: data.count) }
        guard Array(data[0..<6]) == magic else {
            let found = UInt32(data[0]) << 24 | UInt32(data[1]) << 16 | UInt32(data[2]) << 8 | UInt32(data[3])
            throw DatasetError.badMagic(name, found: found, expected: 0x934E_554D)
        }
        let major = data[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8; headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw DatasetError.truncated(name, expectedBytes: 12, actualBytes: data.count) }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24; headerStart = 12
        default:
            throw DatasetError.unsupported(name, reason: "NPY format version \(major)")
        }
        guard data.count >= headerStart + headerLength else {
            throw DatasetError.truncated(name, expectedBytes: headerStart + headerLength, actualBytes: data.count)
        }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header).flatMap(quoted) else {
            throw DatasetError.malformed(name, reason: "NPY header has no 'descr': \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard let fortran = field("fortran_order", in: header) else {
            throw DatasetError.malformed(name, reason: "NPY header has no 'fortran_order'")
        }
        if fortran.hasPrefix("True") {
            throw DatasetError.unsupported(name, reason: "Fortran-order array (save it with numpy.ascontiguousarray)")
        }
        guard let shapeText = field("shape", in: header), shapeText.hasPrefix("("), let close = shapeText.firstIndex(of: ")") else {
            throw DatasetError.malformed(name, reason: "NPY header has no 'shape'")
        }
        let parts = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = try parts.map { part -> Int in
            guard let n = Int(part.hasSuffix("L") ? String(part.dropLast()) : part), n >= 0 else {
                throw DatasetError.malformed(name, reason: "NPY shape entry '\(part)' is not a size")
            }
            return n
        }
        guard shape.count == 2 else {
            throw DatasetError.shapeMismatch(name, reason: "expected a 2-D array (cases x values), found shape (\(parts.joined(separator: ", ")))")
        }
        let (rows, columns) = (shape[0], shape[1])
        let byteOrder = descr.first!
        let kind = descr.dropFirst()
        let size: Int
        switch kind {
        case "f4": size = 4
        case "f8": size = 8
        case "u1": size = 1
        default:
            throw DatasetError.unsupported(name, reason: "element type '\(descr)' (expected float32 '<f4', float64 '<f8' or uint8 '|u1')")
        }
        guard "<>|=".contains(byteOrder) else { throw DatasetError.unsupported(name, reason: "element type '\(descr)'") }
        let bigEndian = byteOrder == ">"
        let start = headerStart + headerLength
        let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
        guard !overflow, count <= 1 << 33 else { throw DatasetError.malformed(name, reason: "NPY shape (\(rows), \(columns)) is too large") }
        let needed = start + count * size
        if data.count < needed { throw DatasetError.truncated(name, expectedBytes: needed, actualBytes: data.count) }
        if data.count > needed {
            throw DatasetError.shapeMismatch(name, reason: "shape (\(rows), \(columns)) of '\(descr)' needs \(needed) bytes, file has \(data.count)")
        }
        let block = shard.rows(of: rows)
        var values = [Float](repeating: 0, count: block.count * columns)
        do {
            let p = data.baseAddress! + start + block.lowerBound * columns * size
            for k in 0..<values.count {
                switch size {
                case 1: values[k] = Float(p.load(fromByteOffset: k, as: UInt8.self))
                case 4:
                    let bits = p.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)
                    values[k] = Float(bitPattern: bigEndian ? UInt32(bigEndian: bits) : UInt32(littleEndian: bits))
                default:
                    let bits = p.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)
                    values[k] = Float(Double(bitPattern: bigEndian ? UInt64(bigEndian: bits) : UInt64(littleEndian: bits)))
                }
            }
        }
        try checkFinite(values, columns: columns, name: name, firstRow: block.lowerBound)
        return (Matrix(rows: block.count, columns: columns, elements: values), rows)
    }

    /// The text after `'key':` in a header dictionary, up to the end of the header.
    static func field(_ key: String, in header: String) -> Substring? {
        for quote in ["'", "\""] {
            if let r = header.range(of: "\(quote)\(key)\(quote)") {
                var rest = header[r.upperBound...].drop { $0 == " " }
                guard rest.first == ":" else { return nil }
                rest = rest.dropFirst().drop { $0 == " " }
                return rest
            }
        }
        return nil
    }

    /// The contents of a leading quoted string.
    static func quoted(_ text: Substring) -> String? {
        guard let q = text.first, q == "'" || q == "\"" else { return nil }
        let body = text.dropFirst()
        guard let end = body.firstIndex(of: q) else { return nil }
        let s = String(body[..<end])
        return s.isEmpty ? nil : s
    }

    /// Reads a `.npy` file.
    public static func read(_ url: URL) throws -> Matrix<Float> {
        try parse(FileBytes.readRaw(url), name: url.path)
    }

    /// Reads the block of rows `shard` holds from a `.npy` file, and the file's row count.
    /// The file is memory-mapped, so only the header and the block's pages are read.
    public static func read(_ url: URL, shard: DataShard) throws -> (matrix: Matrix<Float>, totalRows: Int) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError.missingFile(url.path)
        }
        if isDirectory.boolValue { throw DatasetError.unreadable(url.path, reason: "is a directory") }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) }
        catch { throw DatasetError.unreadable(url.path, reason: "permission denied or I/O error") }
        return try data.withUnsafeBytes { try parse(raw: $0, name: url.path, shard: shard) }
    }

    /// The bytes of a version 1.0 NPY file holding `m` as little-endian float32 in C order.
    public static func encode(_ m: Matrix<Float>) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(m.rows), \(m.columns)), }"
        // Magic (6) + version (2) + length (2) + header + newline is padded to 64 bytes.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(magic + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        m.storage.withUnsafeBytes { raw in
            // Float's in-memory layout is little-endian on every platform Swift supports here.
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<(m.rows * m.columns * 4)]))
        }
        return data
    }

    /// Writes `m` to `url` as NPY (atomically).
    public static func write(_ m: Matrix<Float>, to url: URL) throws {
        let data = encode(m)
        try AtomicWrite.write(to: url) { try $0.write(contentsOf: data) }
    }
}

/// Throws `nonFinite` (1-based row and column) at the first NaN or infinity; `values` start
/// at row `firstRow` (0-based) of the file.
func checkFinite(_ values: [Float], columns: Int, name: String, firstRow: Int = 0) throws {
    if let k = values.firstIndex(where: { !$0.isFinite }) {
        throw DatasetError.nonFinite(name, row: firstRow + k / max(columns, 1) + 1, column: k % max(columns, 1) + 1)
    }
}

/// Comma-separated numbers, one case per line. The first line is a header when none of its
/// cells is a number (`header: .auto`), or as told. Blank lines are skipped; cells may have
/// surrounding white space. Rows in errors are line numbers in the file.
public enum CSV {
    public enum Header: Sendable { case auto, present, absent }

    /// Parses CSV text into a matrix.
    public static func parse(_ text: String, name: String, header: Header = .auto) throws -> Matrix<Float> {
        var values = [Float]()
        var columns = -1
        var rows = 0
        var first = true
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            // "\r\n" is one Character in Swift, so isNewline splits Windows lines too.
            let line = rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if first {
                first = false
                let isHeader: Bool
                switch header {
                case .present: isHeader = true
                case .absent: isHeader = false
                case .auto: isHeader = cells.allSatisfy { Double($0) == nil }
                }
                if isHeader { columns = cells.count; continue }
            }
            if columns < 0 { columns = cells.count }
            guard cells.count == columns else {
                throw DatasetError.raggedRow(name, row: index + 1, expectedColumns: columns, foundColumns: cells.count)
            }
            for (j, cell) in cells.enumerated() {
                guard let v = Double(cell) else {
                    throw DatasetError.notNumeric(name, row: index + 1, column: j + 1, text: cell)
                }
                guard v.isFinite, Float(v).isFinite else { throw DatasetError.nonFinite(name, row: index + 1, column: j + 1) }
                values.append(Float(v))
            }
            rows += 1
        }
        if rows == 0 { throw DatasetError.malformed(name, reason: "no data rows") }
        return Matrix(rows: rows, columns: columns, elements: values)
    }

    /// Reads a CSV file (UTF-8).
    public static func read(_ url: URL, header: Header = .auto) throws -> Matrix<Float> {
        let bytes = try FileBytes.readRaw(url)
        if bytes.isEmpty { throw DatasetError.malformed(url.path, reason: "empty file") }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw DatasetError.malformed(url.path, reason: "not UTF-8 text")
        }
        return try parse(text, name: url.path, header: header)
    }
}

/// A user's own data from `.npy` or `.csv` files.
public enum UserData {
    /// Reads a matrix from a `.npy` or `.csv` file (by extension) and scales it.
    public static func readMatrix(_ url: URL, scaling: Scaling = .none) throws -> Matrix<Float> {
        var m: Matrix<Float>
        switch url.pathExtension.lowercased() {
        case "npy": m = try NPY.read(url)
        case "csv": m = try CSV.read(url)
        default: throw DatasetError.unsupported(url.path, reason: "file type '.\(url.pathExtension)' (expected .npy or .csv)")
        }
        scaling.apply(&m)
        return m
    }

    /// The block of rows `shard` holds, scaled, and the file's row count. NPY files are read
    /// only in that block (and only its values are checked); CSV files are parsed whole.
    public static func readMatrix(_ url: URL, scaling: Scaling = .none, shard: DataShard) throws -> (matrix: Matrix<Float>, totalRows: Int) {
        if shard == .whole { let m = try readMatrix(url, scaling: scaling); return (m, m.rows) }
        var m: Matrix<Float>, total: Int
        switch url.pathExtension.lowercased() {
        case "npy": (m, total) = try NPY.read(url, shard: shard)
        case "csv": let whole = try CSV.read(url); total = whole.rows; m = whole.rows(shard.rows(of: whole.rows))
        default: throw DatasetError.unsupported(url.path, reason: "file type '.\(url.pathExtension)' (expected .npy or .csv)")
        }
        scaling.apply(&m)
        return (m, total)
    }

    /// A data set from files: training inputs, and optionally test inputs and targets (without
    /// targets it is auto-encoder data). Inputs and targets are scaled alike; shapes are checked.
    /// With a `shard`, the data set holds only that shard's block of each split (see
    /// `DataShard`), and NPY files are read only there.
    public static func load(trainInputs: URL, trainTargets: URL? = nil, testInputs: URL? = nil, testTargets: URL? = nil,
                            scaling: Scaling = .none, imageWidth: Int? = nil, imageHeight: Int? = nil,
                            shard: DataShard = .whole) throws -> Dataset {
        let (train, trainRows) = try readMatrix(trainInputs, scaling: scaling, shard: shard)
        let (test, testRows) = try testInputs.map { try readMatrix($0, scaling: scaling, shard: shard) } ?? (Matrix(rows: 0, columns: train.columns), 0)
        if let testInputs, test.columns != train.columns {
            throw DatasetError.shapeMismatch(testInputs.path, reason: "\(test.columns) columns, training inputs have \(train.columns)")
        }
        let trainT = try trainTargets.map { try readMatrix($0, scaling: scaling, shard: shard) }
        let testT = try testTargets.map { try readMatrix($0, scaling: scaling, shard: shard) }
        if let trainTargets, let t = trainT, t.totalRows != trainRows {
            throw DatasetError.shapeMismatch(trainTargets.path, reason: "\(t.totalRows) rows of targets for \(trainRows) training cases")
        }
        if let testTargets, let t = testT {
            guard t.totalRows == testRows else {
                throw DatasetError.shapeMismatch(testTargets.path, reason: "\(t.totalRows) rows of targets for \(testRows) test cases")
            }
            if let u = trainT?.matrix, u.columns != t.matrix.columns {
                throw DatasetError.shapeMismatch(testTargets.path, reason: "\(t.matrix.columns) columns, training targets have \(u.columns)")
            }
        }
        if (trainT == nil) != (testT == nil) && testRows > 0 {
            throw DatasetError.shapeMismatch((testTargets ?? trainInputs).path, reason: "targets given for one split but not the other")
        }
        var width = imageWidth, height = imageHeight
        if width == nil, height == nil {
            // A square number of values is shown as a square image.
            let side = Int(Double(train.columns).squareRoot().rounded())
            if side * side == train.columns { width = side; height = side }
        }
        if let w = width, let h = height, w * h != train.columns {
            throw DatasetError.shapeMismatch(trainInputs.path, reason: "image \(w)x\(h) does not match \(train.columns) values per case")
        }
        return Dataset(name: trainInputs.deletingPathExtension().lastPathComponent, train: train, test: test,
                       trainTargets: trainT?.matrix, testTargets: testT?.matrix, imageWidth: width, imageHeight: height)
    }
}
