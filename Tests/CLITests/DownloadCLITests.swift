import XCTest
import Foundation

/// `hf data download` against a mirror on 127.0.0.1 (never the internet): a small Python HTTP
/// server over a folder of good, corrupted and truncated copies of the shared MNIST files, with
/// range requests (resume) and a "flaky" path that breaks off each file's first transfer.
final class DownloadCLITests: XCTestCase {
    var directory: URL!
    var server: Process?
    var base = ""

    /// The loopback mirror: `/good/`, `/corrupt/` (one byte of a file changed), `/short/` (a file
    /// cut in half), `/flaky/` (like good, but the first transfer of each file stops halfway),
    /// anything else 404. Every request line and its Range header go to `requests.log`.
    static let serverScript = #"""
    import http.server, os, sys, threading
    root, port_file, log_file = sys.argv[1], sys.argv[2], sys.argv[3]
    broken = set()
    lock = threading.Lock()
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *args): pass
        def do_GET(self):
            with lock, open(log_file, "a") as log:
                log.write("%s %s\n" % (self.path, self.headers.get("Range", "-")))
            parts = self.path.strip("/").split("/", 1)
            if len(parts) != 2: return self.send_error(404)
            folder, name = parts
            source = "good" if folder == "flaky" else folder
            path = os.path.join(root, source, name)
            if ".." in name or not os.path.isfile(path): return self.send_error(404)
            data = open(path, "rb").read()
            start = 0
            if self.headers.get("Range", "").startswith("bytes="):
                start = int(self.headers["Range"][6:].split("-")[0])
                if start >= len(data): return self.send_error(416)
            body = data[start:]
            self.send_response(206 if start else 200)
            if start: self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            with lock:
                cut = folder == "flaky" and name not in broken and len(body) > 1
                if cut: broken.add(name)
            if cut:
                self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f: f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()
    """#

    static let mnistFiles = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

    override func setUpWithError() throws {
        let shared = DataCLITests.sharedData.appendingPathComponent("mnist")
        guard FileManager.default.fileExists(atPath: shared.path) else { throw XCTSkip("no ../shared/data/mnist here") }
        guard let python = Self.executable("python3") else { throw XCTSkip("python3 is not installed (make deps installs it)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hf-download-\(UUID().uuidString)")
        let fm = FileManager.default
        let mirror = directory.appendingPathComponent("mirror")
        for folder in ["good", "corrupt", "short"] {
            try fm.createDirectory(at: mirror.appendingPathComponent(folder), withIntermediateDirectories: true)
            for name in Self.mnistFiles {
                var data = try Data(contentsOf: shared.appendingPathComponent(name))
                if name == "train-labels-idx1-ubyte.gz" && folder == "corrupt" { data[1000] ^= 0xFF }
                if name == "train-labels-idx1-ubyte.gz" && folder == "short" { data = data.prefix(data.count / 2) }
                try data.write(to: mirror.appendingPathComponent(folder).appendingPathComponent(name))
            }
        }
        let script = directory.appendingPathComponent("server.py")
        try Self.serverScript.write(to: script, atomically: true, encoding: .utf8)
        let portFile = directory.appendingPathComponent("port")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path, mirror.path, portFile.path, directory.appendingPathComponent("requests.log").path]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        server = p
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && !fm.fileExists(atPath: portFile.path) { Thread.sleep(forTimeInterval: 0.05) }
        let port = try String(contentsOf: portFile, encoding: .utf8)
        base = "http://127.0.0.1:\(port)"
    }

    override func tearDownWithError() throws {
        if let server, server.isRunning { server.terminate(); server.waitUntilExit() }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    static func executable(_ name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    func requests() -> [String] {
        ((try? String(contentsOf: directory.appendingPathComponent("requests.log"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    /// Every entry under `folder`, recursively (hidden ones too).
    func contents(_ folder: URL) -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.allObjects as? [String] ?? []).sorted()
    }

    func testDownloadsChecksAndSkipsWhatIsThere() throws {
        let data = directory.appendingPathComponent("data")
        let r = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", data.path, "--mirror", base + "/good"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("mnist: 4 files"), r.stderr)
        for name in Self.mnistFiles {
            let got = try Data(contentsOf: data.appendingPathComponent("mnist/\(name)"))
            XCTAssertEqual(got, try Data(contentsOf: DataCLITests.sharedData.appendingPathComponent("mnist/\(name)")), name)
        }
        XCTAssertEqual(contents(data), ["mnist"] + Self.mnistFiles.sorted().map { "mnist/\($0)" }, "no staging or partial files left")
        // The other commands read what was fetched.
        let s = try CLITests.run(["data", "summary", "--dataset", "mnist", "--data-dir", data.path, "--json"])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stdout.contains("\"train\" : 60000"), s.stdout)
        // A second run checks what is there and fetches nothing.
        let before = requests().count
        let again = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", data.path, "--mirror", base + "/good"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("already in"), again.stderr)
        XCTAssertEqual(requests().count, before)
    }

    /// The environment variable replaces the default mirrors (no internet is touched).
    func testMirrorFromTheEnvironment() throws {
        let data = directory.appendingPathComponent("env-data")
        let r = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", data.path],
                                 environment: ["HF_DATA_MIRROR": base + "/good"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(requests().filter { $0.hasPrefix("/good/") }.count, 4)
    }

    /// On a terminal (a pseudo-terminal made by `script`), a progress bar per file.
    func testProgressBarOnATerminal() throws {
        guard let script = Self.executable("script") else { throw XCTSkip("no `script` (util-linux) to make a terminal") }
        let data = directory.appendingPathComponent("tty-data")
        let command = [CLITests.binary.path, "data", "download", "--dataset", "mnist", "--data-dir", data.path, "--mirror", base + "/good"]
            .map { "'\($0)'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = ["-qec", command, "/dev/null"]
        let out = Pipe()
        p.standardOutput = out; p.standardError = out; p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("1/4 train-images-idx3-ubyte.gz ["), text)
        XCTAssertTrue(text.contains("100% 9719462/9719462"), text)
        XCTAssertTrue(text.contains("mnist: 4 files"), text)
    }

    /// A wrong checksum, a truncated file and an HTTP error: one clear line, exit 1, and
    /// nothing left behind (not even the data folder this call would have made).
    func testFailuresLeaveNothingBehind() throws {
        let cases: [(String, String)] = [
            ("/corrupt", "cannot download train-labels-idx1-ubyte.gz: \(base)/corrupt/train-labels-idx1-ubyte.gz: wrong sha256"),
            ("/short", "train-labels-idx1-ubyte.gz: truncated: 14440 of 28881 bytes"),
            ("/missing", "\(base)/missing/train-images-idx3-ubyte.gz: The requested URL returned error: 404"),
        ]
        for (mirror, expected) in cases {
            let data = directory.appendingPathComponent("data\(mirror)")
            let r = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", data.path, "--mirror", base + mirror])
            XCTAssertEqual(r.status, 1, "\(mirror): \(r.stderr)")
            CLITests.assertOneErrorLine(r.stderr, contains: expected, mirror)
            XCTAssertTrue(r.stderr.contains("nothing was written"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: data.path), "\(mirror) left \(contents(data))")
        }
        // In an existing data folder, a failure leaves it as it was.
        let existing = directory.appendingPathComponent("existing")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: existing.appendingPathComponent("notes.txt"))
        let r = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", existing.path, "--mirror", base + "/corrupt"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(contents(existing), ["notes.txt"])
    }

    /// A transfer that breaks off is retried from where it stopped (a range request), and a
    /// partial file left by a killed download is resumed by the next call.
    func testInterruptedTransfersResume() throws {
        let data = directory.appendingPathComponent("flaky-data")
        let r = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", data.path, "--mirror", base + "/flaky"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let log = requests()
        XCTAssertTrue(log.contains("/flaky/train-images-idx3-ubyte.gz -"), "\(log)")
        XCTAssertTrue(log.contains("/flaky/train-images-idx3-ubyte.gz bytes=4859731-"), "resumed halfway: \(log)")
        XCTAssertEqual(contents(data).filter { $0.contains(".download") || $0.hasSuffix(".part") }, [])

        // What a killed download leaves: the staging folder with the start of one file.
        let resumed = directory.appendingPathComponent("resumed-data")
        let staging = resumed.appendingPathComponent(".mnist.download")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        let original = try Data(contentsOf: DataCLITests.sharedData.appendingPathComponent("mnist/t10k-images-idx3-ubyte.gz"))
        try original.prefix(1000).write(to: staging.appendingPathComponent("t10k-images-idx3-ubyte.gz.part"))
        let again = try CLITests.run(["data", "download", "--dataset", "mnist", "--data-dir", resumed.path, "--mirror", base + "/good"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(requests().contains("/good/t10k-images-idx3-ubyte.gz bytes=1000-"), "\(requests())")
        XCTAssertEqual(try Data(contentsOf: resumed.appendingPathComponent("mnist/t10k-images-idx3-ubyte.gz")), original)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path))
    }

    /// FACES' source: the 400 PGMs, each checked against the shipped sums, from a file:// mirror
    /// (curl takes it like any URL), and refused when one face differs.
    func testFacesFromAFileMirror() throws {
        let faces = DataCLITests.sharedData.appendingPathComponent("att_faces")
        guard FileManager.default.fileExists(atPath: faces.path) else { throw XCTSkip("no ../shared/data/att_faces here") }
        let data = directory.appendingPathComponent("faces-data")
        let r = try CLITests.run(["data", "download", "--dataset", "faces", "--data-dir", data.path, "--mirror", faces.absoluteString])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("faces: 400 files"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: data.appendingPathComponent("att_faces/s40/10.pgm")),
                       try Data(contentsOf: faces.appendingPathComponent("s40/10.pgm")))
        // A copy with one changed face is refused, and nothing of it is kept.
        let copy = directory.appendingPathComponent("faces-copy")
        try FileManager.default.copyItem(at: faces, to: copy)
        // The shared copies are read-only; the test's own copy must be writable (and removable).
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
        for entry in contents(copy) {
            let url = copy.appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            try FileManager.default.setAttributes([.posixPermissions: isDirectory.boolValue ? 0o755 : 0o644], ofItemAtPath: url.path)
        }
        let face = copy.appendingPathComponent("s7/3.pgm")
        try? FileManager.default.removeItem(at: face)
        var bytes = try Data(contentsOf: faces.appendingPathComponent("s7/3.pgm"))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: face)
        let bad = directory.appendingPathComponent("bad-faces")
        let b = try CLITests.run(["data", "download", "--dataset", "faces", "--data-dir", bad.path, "--mirror", copy.absoluteString])
        XCTAssertEqual(b.status, 1, b.stderr)
        CLITests.assertOneErrorLine(b.stderr, contains: "cannot download s7/3.pgm", "faces")
        XCTAssertFalse(FileManager.default.fileExists(atPath: bad.path))
    }
}
