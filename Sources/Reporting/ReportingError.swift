import Foundation

/// Everything that can go wrong reading or writing a run's files. Each case names the file and
/// the problem in one line, so the tool can print `description` and exit non-zero.
public enum ReportingError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The file or directory does not exist.
    case missingFile(String)
    /// The file exists but could not be read or written (permissions, disk full, ...).
    case io(String, reason: String)
    /// The file ends before the bytes its own header promises.
    case truncated(String, expectedBytes: Int, actualBytes: Int)
    /// The file's contents do not follow its format.
    case malformed(String, reason: String)
    /// Line `line` (1-based) of a JSON lines file is not a valid record.
    case malformedLine(String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): no such file"
        case .io(let f, let r): return "\(f): \(r)"
        case .truncated(let f, let e, let a): return "\(f): truncated: expected \(e) bytes, found \(a)"
        case .malformed(let f, let r): return "\(f): \(r)"
        case .malformedLine(let f, let l, let r): return "\(f): line \(l): \(r)"
        }
    }

    /// The same one line as `description`, for code that prints `localizedDescription`.
    public var errorDescription: String? { description }
}

extension ReportingError {
    /// Wraps any error thrown by Foundation while touching `file` into a one-line `io` error.
    static func wrapping(_ error: Error, file: String) -> ReportingError {
        if let own = error as? ReportingError { return own }
        return .io(file, reason: oneLine(error))
    }

    /// A one-line description of a Foundation or decoding error.
    static func oneLine(_ error: Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let c): return "invalid JSON: \(c.debugDescription)\(path(c.codingPath))"
            case .keyNotFound(let key, let c): return "missing key \"\(key.stringValue)\"\(path(c.codingPath))"
            case .typeMismatch(let type, let c): return "expected \(type)\(path(c.codingPath)): \(c.debugDescription)"
            case .valueNotFound(let type, let c): return "missing \(type) value\(path(c.codingPath))"
            @unknown default: return "\(decoding)"
            }
        }
        if let encoding = error as? EncodingError, case .invalidValue(let value, let c) = encoding {
            return "cannot encode \(value)\(path(c.codingPath)): \(c.debugDescription)"
        }
        return reason(error)
    }

    /// Why a file operation failed, in a few words without paths or error domains: the POSIX
    /// reason ("No such file or directory", "Permission denied") when there is one.
    public static func reason(_ error: Error) -> String {
        if let own = error as? ReportingError { return own.description }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: return String(cString: strerror(ENOENT))
            case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
            case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
            case .fileWriteFileExists: return String(cString: strerror(EEXIST))
            case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
            case .fileWriteUnknown: return "cannot write"
            case .fileReadUnknown: return "cannot read"
            default: break
            }
        }
        // The package's own errors describe themselves in one line; an NSError's description
        // is a dump of its user info, so its localized description is used instead.
        let described = String(describing: error)
        if !described.contains("Error Domain=") {
            return described.split(whereSeparator: \.isNewline).joined(separator: " ")
        }
        return ns.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    private static func path(_ codingPath: [CodingKey]) -> String {
        codingPath.isEmpty ? "" : " at " + codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
