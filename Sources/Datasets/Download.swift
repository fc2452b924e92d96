import Foundation

/// A data set that `hf data download` fetches: its files, each checked against known sizes and
/// sha256 sums, and the mirrors tried in order.
public struct DownloadableDataset: Sendable {
    /// One accepted form of a file: its size (nil when unknown) and sha256 (lowercase hex).
    public struct Version: Sendable, Equatable {
        public var bytes: Int?
        public var sha256: String
        public init(bytes: Int?, sha256: String) { self.bytes = bytes; self.sha256 = sha256 }
    }

    /// A file: its path under the data set's folder, which is also its path under a mirror's
    /// URL, and the versions accepted.
    public struct File: Sendable, Equatable {
        public var path: String
        public var versions: [Version]
        public init(path: String, versions: [Version]) { self.path = path; self.versions = versions }

        /// Whether bytes of this size and digest are one of the accepted versions.
        public func accepts(bytes: Int, sha256: String) -> Bool {
            versions.contains { ($0.bytes == nil || $0.bytes == bytes) && $0.sha256 == sha256 }
        }

        /// The largest size any accepted version has (nil when a size is unknown).
        public var expectedBytes: Int? { versions.allSatisfy { $0.bytes != nil } ? versions.compactMap(\.bytes).max() : nil }
    }

    /// "mnist" or "faces".
    public var name: String
    /// The folder under the data directory the loaders read (`mnist`, `att_faces`).
    public var folder: String
    public var files: [File]
    /// Base URLs, tried in order for each file.
    public var mirrors: [String]

    /// The environment variable that replaces the default mirrors (as `--mirror` does).
    public static let mirrorVariable = "HF_DATA_MIRROR"

    /// The data sets that can be downloaded, by name.
    public static func named(_ name: String) -> DownloadableDataset? {
        switch name {
        case "mnist": return mnist
        case "faces": return faces
        default: return nil
        }
    }

    /// MNIST's four gzipped IDX files. The mirrors PyTorch and TensorFlow use serve LeCun's
    /// original archives (first version: sizes and sums as published with torchvision and
    /// tensorflow-datasets); the second version of each is the same data gzipped again, as in
    /// ../shared/data/mnist (its README lists these sums).
    public static let mnist = DownloadableDataset(
        name: "mnist", folder: "mnist",
        files: [
            File(path: "train-images-idx3-ubyte.gz", versions: [
                Version(bytes: 9_912_422, sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
                Version(bytes: 9_719_462, sha256: "b09d8b89df4ad239afc76a323dbe9559169cd8cca365467dfe8aa1f7ca54109b")]),
            File(path: "train-labels-idx1-ubyte.gz", versions: [
                Version(bytes: 28_881, sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
                Version(bytes: 28_881, sha256: "c51906e7929bbf7c824fbd16019b56297269ca82cba449c5b5d59c0a02147fed")]),
            File(path: "t10k-images-idx3-ubyte.gz", versions: [
                Version(bytes: 1_648_877, sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
                Version(bytes: 1_616_531, sha256: "f72c2dff3457595ec2fe452d25d97b7f974a74ad5b006687704212bedd1486d8")]),
            File(path: "t10k-labels-idx1-ubyte.gz", versions: [
                Version(bytes: 4_542, sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
                Version(bytes: 4_540, sha256: "4baf84ddd60ae342cfdd282ec3fba3249a201a4459782165496a7cbebbe49a2e")]),
        ],
        mirrors: [
            "https://ossci-datasets.s3.amazonaws.com/mnist",       // torchvision
            "https://storage.googleapis.com/cvdf-datasets/mnist",  // TensorFlow
            "https://yann.lecun.com/exdb/mnist",                   // the original
        ])

    /// The 400 PGMs of the Olivetti faces (`sP/N.pgm`), with the sums of
    /// ../shared/data/att_faces/SHA256SUMS. AT&T's own distribution is a single archive, so the
    /// default mirror is a public Git copy of the unpacked folder; `--mirror` takes any URL (also
    /// `file:///...`) laid out the same way.
    public static let faces = DownloadableDataset(
        name: "faces", folder: "att_faces",
        files: facesChecksums.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            return File(path: String(parts[1]), versions: [Version(bytes: nil, sha256: String(parts[0]))])
        },
        mirrors: ["https://raw.githubusercontent.com/dnr2/ProjetoAM/99a075ba56d2326edac6fe998df89c6240cb50dd/att_faces"])
}

/// Why a download failed, each case one line naming the file and what to do.
public enum DownloadError: Error, Equatable, CustomStringConvertible {
    /// No mirror gave a good copy of `file`; `attempts` says what each mirror answered.
    case failed(file: String, attempts: [String])
    /// The `curl` program is not installed.
    case missingCurl
    /// The data folder cannot be written.
    case unwritable(String, reason: String)

    public var description: String {
        switch self {
        case .failed(let file, let attempts):
            return "cannot download \(file): " + attempts.joined(separator: "; ") + "; nothing was written (try another --mirror)"
        case .missingCurl: return "curl is not installed (make deps installs it; or apt-get install curl)"
        case .unwritable(let path, let reason): return "\(path): cannot write (\(reason)); give --data-dir a folder you can write"
        }
    }
}

/// What a download tells its caller as it goes (the tool draws these; the library never prints).
public enum DownloadEvent: Sendable {
    /// File `index` (0-based) of `count` is being fetched from `url`.
    case fetching(file: String, index: Int, count: Int, url: String)
    /// `bytes` of `total` (when known) of the current file are on disk.
    case bytes(Int, total: Int?)
    /// A mirror failed for the current file (the next one is tried, or the file again).
    case retrying(String)
}

/// What a finished download did.
public struct DownloadOutcome: Sendable, Equatable {
    /// Where the data set now is (`<data>/mnist`, `<data>/att_faces`).
    public var folder: URL
    /// Files fetched, and files that were already there and good.
    public var fetched: Int
    public var alreadyPresent: Int
    public var bytesFetched: Int
}

/// Downloads a data set into its folder under the data directory, all or nothing.
///
/// Files go to a staging folder `<data>/.<folder>.download/` (partial files end in `.part`);
/// each is checked against its size and sha256, and only when every file is good are they
/// moved into `<data>/<folder>/`. On any failure the staging folder (and any folder this call
/// made) is removed, so nothing is left behind; a download that is killed keeps its staging
/// folder, and the next call resumes it (HTTP range requests, `curl -C -`). Transfers that
/// break off are retried from where they stopped. Transfers use `curl`, so any URL curl takes
/// (https, http, file) can be a mirror.
public struct DataDownloader {
    public var mirrors: [String]
    /// Tries per file and mirror when a transfer breaks off (each resumes where it stopped).
    public var retries = 3
    /// Seconds to wait before retry k (times k).
    public var retryDelay = 0.5

    public init(mirrors: [String]) { self.mirrors = mirrors.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } }

    public func download(_ dataset: DownloadableDataset, into dataDirectory: URL,
                         events: (DownloadEvent) -> Void = { _ in }) throws -> DownloadOutcome {
        let fm = FileManager.default
        let target = dataDirectory.appendingPathComponent(dataset.folder, isDirectory: true)
        let staging = dataDirectory.appendingPathComponent(".\(dataset.folder).download", isDirectory: true)
        // Files already in place and good are kept as they are.
        var needed: [DownloadableDataset.File] = []
        for file in dataset.files {
            let url = target.appendingPathComponent(file.path)
            if let (sha256, bytes) = try? SHA256.file(url), file.accepts(bytes: bytes, sha256: sha256) { continue }
            needed.append(file)
        }
        let present = dataset.files.count - needed.count
        if needed.isEmpty { return DownloadOutcome(folder: target, fetched: 0, alreadyPresent: present, bytesFetched: 0) }
        guard let curl = Self.curlPath() else { throw DownloadError.missingCurl }

        let madeFolders = try Self.createFolder(staging)
        var bytesFetched = 0
        do {
            for (index, file) in needed.enumerated() {
                let staged = staging.appendingPathComponent(file.path)
                if let (sha256, bytes) = try? SHA256.file(staged), file.accepts(bytes: bytes, sha256: sha256) { continue }
                try? fm.removeItem(at: staged)
                bytesFetched += try fetch(file, to: staged, curl: curl, index: index, count: needed.count, events: events)
            }
            for file in needed {
                let destination = target.appendingPathComponent(file.path)
                do {
                    try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
                } catch {
                    throw DownloadError.unwritable(destination.deletingLastPathComponent().path, reason: AtomicWrite.posixReason(error))
                }
                if rename(staging.appendingPathComponent(file.path).path, destination.path) != 0 {
                    throw DownloadError.unwritable(destination.path, reason: String(cString: strerror(errno)))
                }
            }
        } catch {
            try? fm.removeItem(at: staging)
            for folder in madeFolders.reversed() where (try? fm.contentsOfDirectory(atPath: folder.path))?.isEmpty == true {
                try? fm.removeItem(at: folder)
            }
            throw error
        }
        try? fm.removeItem(at: staging)
        return DownloadOutcome(folder: target, fetched: needed.count, alreadyPresent: present, bytesFetched: bytesFetched)
    }

    /// Fetches `file` into `staged` from the first mirror that gives a good copy; returns its size.
    private func fetch(_ file: DownloadableDataset.File, to staged: URL, curl: String, index: Int, count: Int,
                       events: (DownloadEvent) -> Void) throws -> Int {
        let fm = FileManager.default
        let partial = staged.deletingLastPathComponent().appendingPathComponent(staged.lastPathComponent + ".part")
        do {
            try fm.createDirectory(at: staged.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw DownloadError.unwritable(staged.deletingLastPathComponent().path, reason: AtomicWrite.posixReason(error))
        }
        var attempts: [String] = []
        for (m, mirror) in mirrors.enumerated() {
            let url = mirror + "/" + file.path
            events(.fetching(file: file.path, index: index, count: count, url: url))
            var problem = ""
            // A partial file left by a killed download is resumed; if the result is wrong, the
            // file is fetched once more from the start.
            var resumedFromEarlier = Self.fileSize(partial) > 0
            for attempt in 1...max(1, retries) {
                let result = transfer(url, to: partial, curl: curl, expectedBytes: file.expectedBytes, events: events)
                if case .failure(let failure) = result {
                    problem = failure.message
                    if failure.restart { try? fm.removeItem(at: partial) }
                    if failure.retry && attempt < retries {
                        events(.retrying("\(url): \(problem); trying again"))
                        Thread.sleep(forTimeInterval: retryDelay * Double(attempt))
                        continue
                    }
                    break
                }
                let (sha256, bytes) = try SHA256.file(partial)
                if file.accepts(bytes: bytes, sha256: sha256) {
                    // Mirrors serve different (equally good) versions: the bar ends at the size
                    // actually checked.
                    events(.bytes(bytes, total: bytes))
                    if rename(partial.path, staged.path) != 0 {
                        throw DownloadError.unwritable(staged.path, reason: String(cString: strerror(errno)))
                    }
                    return bytes
                }
                try? fm.removeItem(at: partial)
                if resumedFromEarlier {
                    resumedFromEarlier = false
                    continue
                }
                if let expected = file.expectedBytes, bytes < expected {
                    problem = "truncated: \(bytes) of \(expected) bytes"
                } else {
                    problem = "wrong sha256 \(sha256.prefix(16))... (expected \(file.versions.map { String($0.sha256.prefix(16)) + "..." }.joined(separator: " or ")))"
                }
                break
            }
            try? fm.removeItem(at: partial)
            attempts.append("\(url): \(problem)")
            if m + 1 < mirrors.count { events(.retrying("\(url): \(problem); trying the next mirror")) }
        }
        throw DownloadError.failed(file: file.path, attempts: attempts)
    }

    struct TransferFailure: Error {
        var message: String
        /// Worth another try from the same mirror (the transfer broke off).
        var retry: Bool
        /// The partial file cannot be resumed: start over.
        var restart: Bool
    }

    /// One `curl` run, appending to `partial` when it holds the start of the file already.
    private func transfer(_ url: String, to partial: URL, curl: String, expectedBytes: Int?,
                          events: (DownloadEvent) -> Void) -> Result<Void, TransferFailure> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: curl)
        var arguments = ["--fail", "--location", "--silent", "--show-error", "--connect-timeout", "20",
                         "--speed-limit", "1", "--speed-time", "60", "--output", partial.path]
        if Self.fileSize(partial) > 0 { arguments += ["--continue-at", "-"] }
        process.arguments = arguments + ["--", url]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return .failure(TransferFailure(message: "cannot run curl: \(AtomicWrite.posixReason(error))", retry: false, restart: false))
        }
        while process.isRunning {
            events(.bytes(Self.fileSize(partial), total: expectedBytes))
            // Short polls: most files (400 faces) take a few milliseconds.
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(whereSeparator: \.isNewline).first.map { line in
                // "curl: (22) The requested URL returned error: 404" -> "The requested URL returned error: 404"
                line.replacingOccurrences(of: "curl: ", with: "").replacingOccurrences(of: #"^\(\d+\) "#, with: "", options: .regularExpression)
            } ?? ""
        events(.bytes(Self.fileSize(partial), total: expectedBytes))
        switch process.terminationStatus {
        case 0: return .success(())
        // 18: transfer closed early; 28: too slow or timed out; 52, 55, 56: connection dropped.
        case 18, 28, 52, 55, 56:
            return .failure(TransferFailure(message: message.isEmpty ? "transfer broke off" : message, retry: true, restart: false))
        // 33, 36: the server cannot resume: start the file over.
        case 33, 36:
            return .failure(TransferFailure(message: message.isEmpty ? "cannot resume" : message, retry: true, restart: true))
        // 22: HTTP error (404, 500, ...); 6, 7: no such host, no connection; others: give up on this mirror.
        default:
            let text = message.isEmpty ? "curl exit status \(process.terminationStatus)" : message
            // A file resumed past its end (416) is not worth keeping.
            return .failure(TransferFailure(message: text, retry: false, restart: true))
        }
    }

    /// The folders from `url` up that do not exist yet, created (outermost first).
    private static func createFolder(_ url: URL) throws -> [URL] {
        var missing: [URL] = []
        var folder = url.standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path) && folder.path != "/" {
            missing.insert(folder, at: 0)
            folder = folder.deletingLastPathComponent()
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw DownloadError.unwritable(url.deletingLastPathComponent().path, reason: AtomicWrite.posixReason(error))
        }
        // The staging folder itself is removed separately.
        return missing.filter { $0.path != url.standardizedFileURL.path }
    }

    /// The size of the file at `url`, 0 when there is none.
    static func fileSize(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// `curl` on the PATH, if any.
    static func curlPath() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/curl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
