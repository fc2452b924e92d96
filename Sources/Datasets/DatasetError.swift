/// Everything that can be wrong with input data, each naming the file and the problem, so the
/// tool can print one line and exit non-zero (never a crash).
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case unreadable(String, reason: String)
    case badMagic(String, found: UInt32, expected: UInt32)
    case truncated(String, expectedBytes: Int, actualBytes: Int)
    case malformed(String, reason: String)
    case shapeMismatch(String, reason: String)
    case nonFinite(String, row: Int, column: Int)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): no such file"
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .badMagic(let f, let found, let expected):
            return "\(f): wrong magic number 0x\(String(found, radix: 16)) (expected 0x\(String(expected, radix: 16)))"
        case .truncated(let f, let e, let a): return "\(f): truncated: expected \(e) bytes, found \(a)"
        case .malformed(let f, let r): return "\(f): \(r)"
        case .shapeMismatch(let f, let r): return "\(f): shape mismatch: \(r)"
        case .nonFinite(let f, let row, let col): return "\(f): row \(row), column \(col): value is not finite"
        }
    }
}
