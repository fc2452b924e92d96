import CZlib
import Foundation

/// Reading whole files, gzipped or plain, with errors that name the file.
enum FileBytes {
    /// The bytes of `url`; gzip data (magic 1f 8b) is inflated. A gzip stream that ends early
    /// is reported as truncated, never returned in part.
    static func read(_ url: URL) throws -> [UInt8] {
        let raw = try readRaw(url)
        if raw.count >= 2 && raw[0] == 0x1f && raw[1] == 0x8b { return try gunzip(raw, name: url.path) }
        return raw
    }

    /// The file's bytes as stored.
    static func readRaw(_ url: URL) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DatasetError.missingFile(url.path)
        }
        if isDirectory.boolValue { throw DatasetError.unreadable(url.path, reason: "is a directory") }
        do {
            return [UInt8](try Data(contentsOf: url))
        } catch {
            throw DatasetError.unreadable(url.path, reason: "permission denied or I/O error")
        }
    }

    /// Inflates a gzip stream (possibly several members, as `gzip` concatenation allows).
    static func gunzip(_ input: [UInt8], name: String) throws -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(input.count * 4)
        var stream = z_stream()
        // 15 + 16: the largest window, gzip header and trailer expected.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError.unreadable(name, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try input.withUnsafeBufferPointer { inp in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress!)
            stream.avail_in = UInt32(inp.count)
            while true {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress!
                    stream.avail_out = UInt32(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                output.append(contentsOf: buffer[0..<produced])
                if status == Z_STREAM_END {
                    if stream.avail_in == 0 { break }
                    // Another gzip member follows (concatenated files).
                    inflateReset(&stream)
                    continue
                }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw DatasetError.malformed(name, reason: "truncated gzip stream (ended after \(output.count) bytes of data)")
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    throw DatasetError.malformed(name, reason: "corrupt gzip data (zlib status \(status))")
                }
                if status == Z_OK && stream.avail_in == 0 && produced == 0 {
                    throw DatasetError.malformed(name, reason: "truncated gzip stream (ended after \(output.count) bytes of data)")
                }
            }
        }
        return output
    }
}

extension FileBytes {
    /// A gzip stream of `input` (one member); for writing test fixtures and exports.
    static func gzip(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: the largest window with a gzip header and trailer; memory level 8 is zlib's default.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var input = input
        let produced: Int = input.withUnsafeMutableBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                _ = deflate(&stream, Z_FINISH)
                return out.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }
}

/// Writes a file so that readers never see half of one (temporary file + rename). A copy of the
/// same idea as Reporting's `AtomicFile`, which this target cannot import.
enum AtomicWrite {
    /// Streams `body`'s chunks into a temporary file beside `url`, then renames it over `url`.
    static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DatasetError.unwritable(url.path, reason: "cannot create its folder: \(posixReason(error))")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            // Errors name the file the user asked for, never the temporary one.
            throw DatasetError.unwritable(url.path, reason: String(cString: strerror(errno)))
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            if rename(temporary.path, url.path) != 0 {
                throw DatasetError.unwritable(url.path, reason: String(cString: strerror(errno)))
            }
        } catch let error as DatasetError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw DatasetError.unwritable(url.path, reason: posixReason(error))
        }
    }

    /// The POSIX reason inside a Foundation file error ("Permission denied"), without paths.
    static func posixReason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
