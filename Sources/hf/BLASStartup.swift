import Foundation
import LinearAlgebra
#if canImport(Glibc)
import Glibc
#endif

/// The BLAS core `hf` runs with, chosen at start-up before anything else.
///
/// OpenBLAS picks its core when it loads, from the CPUID model, and falls back to an old core
/// for a processor its build does not know (Debian's 0.3.21 runs Prescott's SSE3 kernels on
/// Intel family 6 model 207, at a fifth of the speed). OPENBLAS_CORETYPE is read only at load,
/// so when `OpenBLASCore.decision` says to force a better core, `hf`:
/// 1. runs itself as a child (`hf blas --probe`) with OPENBLAS_CORETYPE set to that core; the
///    child runs `GEMMCheck` and prints the core it got;
/// 2. when the child exits 0 and reports that core, re-executes itself (execv of
///    /proc/self/exe, same arguments) with OPENBLAS_CORETYPE set, saying so in one line;
/// 3. otherwise warns in one line and goes on with OpenBLAS's own core.
/// A user's OPENBLAS_CORETYPE is never changed. Linux on x86-64 only; elsewhere nothing happens.
enum BLASStartup {
    /// Set in the environment of the re-executed process and of the probe child, to the core
    /// `hf` forced: a process that has it never probes or re-executes again.
    static let forcedCoreVariable = "HF_BLAS_FORCED_CORE"
    /// Test hook: take this as the core OpenBLAS picked (e.g. Prescott), to exercise the probe
    /// and re-execution on a machine where OpenBLAS picks well.
    static let pretendCoreVariable = "HF_BLAS_PRETEND_CORE"
    /// Test hook: take this as the best core for the processor (a core the build lacks makes
    /// the probe fail).
    static let pretendBestCoreVariable = "HF_BLAS_PRETEND_BEST_CORE"
    /// The probe child gets this long (it needs well under a second) before it is killed.
    static let probeTimeoutSeconds = 30.0

    /// The core this process was re-executed with, when `hf` forced one (nil otherwise).
    static var forcedCore: String? {
        let environment = ProcessInfo.processInfo.environment
        guard let forced = environment[forcedCoreVariable], environment[OpenBLASCore.coreTypeVariable] == forced else { return nil }
        return forced
    }

    /// A one-line note when OPENBLAS_CORETYPE, set by the user and kept, names a narrower core
    /// than this processor's best (`OpenBLASCore.userChoiceNote`); `hf train` prints it.
    static var userChoiceNote: String? {
        let environment = ProcessInfo.processInfo.environment
        return OpenBLASCore.userChoiceNote(coreTypeVariable: environment[OpenBLASCore.coreTypeVariable],
                                           best: environment[pretendBestCoreVariable] ?? OpenBLASCore.best(for: .current))
    }

    /// Chooses the core; returns only when this process keeps its BLAS (otherwise it is replaced).
    static func chooseCore() {
        #if os(Linux) && arch(x86_64)
        let environment = ProcessInfo.processInfo.environment
        if environment[forcedCoreVariable] != nil { return }
        let openBLASCore = environment[pretendCoreVariable] ?? OpenBLASCore.current
        let best = environment[pretendBestCoreVariable] ?? OpenBLASCore.best(for: .current)
        let decision = OpenBLASCore.decision(openBLASCore: openBLASCore, best: best,
                                             coreTypeVariable: environment[OpenBLASCore.coreTypeVariable],
                                             dynamicArchitecture: OpenBLASCore.isDynamicArchitecture)
        guard case .force(let core) = decision else { return }
        let cpu = ProcessorFeatures.current.brand.isEmpty ? "this processor" : ProcessorFeatures.current.brand
        switch probe(core) {
        case .failure(let reason):
            Console.error("hf: warning: OpenBLAS chose its \(openBLASCore) core for \(cpu), but the \(core) core failed its check (\(reason)); continuing with \(openBLASCore) (set \(OpenBLASCore.coreTypeVariable) to choose a core)")
        case .success:
            Console.error("hf: OpenBLAS chose its \(openBLASCore) core for \(cpu); restarting with \(OpenBLASCore.coreTypeVariable)=\(core) (set \(OpenBLASCore.coreTypeVariable) to choose a core yourself)")
            setenv(OpenBLASCore.coreTypeVariable, core, 1)
            setenv(forcedCoreVariable, core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            let reason = String(cString: strerror(errno))
            unsetenv(OpenBLASCore.coreTypeVariable)
            unsetenv(forcedCoreVariable)
            Console.error("hf: warning: could not restart (\(reason)); continuing with OpenBLAS's \(openBLASCore) core")
        }
        #endif
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Runs `hf blas --probe` with OPENBLAS_CORETYPE=`core`; success when it exits 0 and
    /// reports `core`.
    static func probe(_ core: String) -> Result<Void, ProbeFailure> {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["blas", "--probe"]
        var environment = ProcessInfo.processInfo.environment
        environment[OpenBLASCore.coreTypeVariable] = core
        environment[forcedCoreVariable] = core
        child.environment = environment
        let output = Pipe(), errors = Pipe()
        child.standardOutput = output
        child.standardError = errors
        child.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        child.terminationHandler = { _ in done.signal() }
        do { try child.run() } catch { return .failure(ProbeFailure(reason: "could not start it: \(error)")) }
        if done.wait(timeout: .now() + probeTimeoutSeconds) == .timedOut {
            kill(child.processIdentifier, SIGKILL)
            done.wait()
            return .failure(ProbeFailure(reason: "no answer in \(Int(probeTimeoutSeconds)) s"))
        }
        let reported = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").last.map { ": " + $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if child.terminationReason == .uncaughtSignal {
            return .failure(ProbeFailure(reason: "killed by signal \(child.terminationStatus)"))
        }
        if child.terminationStatus != 0 {
            return .failure(ProbeFailure(reason: "exit status \(child.terminationStatus)\(message)"))
        }
        if reported.lowercased() != core.lowercased() {
            return .failure(ProbeFailure(reason: "this OpenBLAS gave its \(reported.isEmpty ? "unknown" : reported) core instead"))
        }
        return .success(())
    }
}
