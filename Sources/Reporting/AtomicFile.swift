import Foundation

/// Writes files so that readers never see half of one: the bytes go to a temporary file in
/// the same directory, which is then renamed over the destination (rename is atomic on POSIX).
public enum AtomicFile {
    /// Errors name `url` (never the temporary file) in one line: `ReportingError.io`.
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportingError.io(url.path, reason: "cannot create its folder (\(ReportingError.reason(error)))")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ReportingError.io(url.path, reason: "cannot write (\(ReportingError.reason(error)))")
        }
        if rename(temporary.path, url.path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw ReportingError.io(url.path, reason: "cannot write (\(String(cString: strerror(code))))")
        }
    }

    /// Refuses, before anything is read or written, a folder that could not be created: its
    /// nearest existing ancestor must be a folder this process can write (or `url` one itself).
    public static func checkCanCreateFolder(_ url: URL) throws {
        var ancestor = url.standardizedFileURL
        var isDirectory: ObjCBool = false
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) && ancestor.path != "/" {
            ancestor = ancestor.deletingLastPathComponent()
        }
        guard isDirectory.boolValue else {
            throw ReportingError.io(url.path, reason: "cannot create the folder (\(ancestor.path) is a file)")
        }
        guard FileManager.default.isWritableFile(atPath: ancestor.path) else {
            throw ReportingError.io(url.path, reason: "cannot create the folder (\(ancestor.path) is not writable)")
        }
    }

    public static func write(_ string: String, to url: URL) throws {
        try write(Data(string.utf8), to: url)
    }

    /// Reads the whole file at `url`, the counterpart of `write`: a missing file is
    /// `ReportingError.missingFile`, any other failure a `ReportingError` naming the file.
    public static func read(from url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) { throw ReportingError.missingFile(url.path) }
            throw ReportingError.wrapping(error, file: url.path)
        }
    }
}
