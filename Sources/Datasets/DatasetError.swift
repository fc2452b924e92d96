/// Everything that can be wrong with input data, each naming the file and the problem, so the
/// tool can print one line and exit non-zero (never a crash).
///
/// Rows and columns in messages are 1-based, as a person counts them in an editor.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case unreadable(String, reason: String)
    /// A file that cannot be written (its folder is missing or read-only, the disk is full).
    case unwritable(String, reason: String)
    case badMagic(String, found: UInt32, expected: UInt32)
    case truncated(String, expectedBytes: Int, actualBytes: Int)
    case malformed(String, reason: String)
    case shapeMismatch(String, reason: String)
    case nonFinite(String, row: Int, column: Int)
    /// A cell that does not parse as a number (CSV).
    case notNumeric(String, row: Int, column: Int, text: String)
    /// A row with a different number of cells from the first data row (CSV).
    case raggedRow(String, row: Int, expectedColumns: Int, foundColumns: Int)
    /// An NPY element type or layout the reader does not take.
    case unsupported(String, reason: String)
    /// A data set name the loader does not know.
    case unknownDataset(String)
    /// A request the data cannot satisfy (a validation split larger than the training set, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): no such file"
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .unwritable(let f, let r): return "\(f): cannot write: \(r)"
        case .badMagic(let f, let found, let expected):
            return "\(f): wrong magic number 0x\(String(found, radix: 16)) (expected 0x\(String(expected, radix: 16)))"
        case .truncated(let f, let e, let a): return "\(f): truncated: expected \(e) bytes, found \(a)"
        case .malformed(let f, let r): return "\(f): \(r)"
        case .shapeMismatch(let f, let r): return "\(f): shape mismatch: \(r)"
        case .nonFinite(let f, let row, let col): return "\(f): row \(row), column \(col): value is not finite"
        case .notNumeric(let f, let row, let col, let text):
            // Control characters would break the one-line message.
            let shown = String(text.prefix(40).map { $0.isNewline || $0.asciiValue.map { $0 < 32 } == true ? "?" : $0 })
            return "\(f): row \(row), column \(col): not a number: \"\(shown)\""
        case .raggedRow(let f, let row, let e, let found):
            return "\(f): row \(row): \(found) columns, expected \(e)"
        case .unsupported(let f, let r): return "\(f): unsupported: \(r)"
        case .unknownDataset(let n): return "\(n): unknown data set (expected mnist, curves, faces, or a .npy/.csv file)"
        case .invalidArgument(let m): return m
        }
    }
}
