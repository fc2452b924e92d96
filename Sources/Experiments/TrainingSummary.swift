import Foundation
import LinearAlgebra
import Reporting

/// The machine a run ran on, as `summary.json` records it.
public struct MachineDescription: Codable, Sendable, Equatable {
    /// The processor's CPUID brand string, or "unknown".
    public var cpuModel: String
    /// The OpenBLAS kernel family in use ("Zen", "SkylakeX", ...).
    public var blasCore: String
    /// OpenBLAS threads.
    public var blasThreads: Int
    /// Threads of the elementwise kernels (absent in summaries written before it was recorded).
    public var elementwiseThreads: Int? = nil
    /// Vector instruction set of the elementwise kernels: "avx512", "avx2+fma" or "swift-simd"
    /// (absent in summaries written before it was recorded).
    public var elementwiseISA: String? = nil
    /// Peak resident memory of the process that wrote the summary, in MB (its latest
    /// invocation of a resumed run; absent where /proc is not available, and in summaries
    /// written before it was recorded).
    public var peakResidentMegabytes: Double? = nil

    enum CodingKeys: String, CodingKey {
        case cpuModel = "cpu_model", blasCore = "blas_core", blasThreads = "blas_threads"
        case elementwiseThreads = "elementwise_threads", elementwiseISA = "elementwise_isa"
        case peakResidentMegabytes = "peak_rss_mb"
    }

    public static func current() -> MachineDescription {
        let blas = OpenBLASCore.report()
        return MachineDescription(cpuModel: blas.cpuModel.isEmpty ? "unknown" : blas.cpuModel, blasCore: blas.core,
                                  blasThreads: blas.threads, elementwiseThreads: ElementwiseParallelism.threads,
                                  elementwiseISA: Float.elementwiseISA.rawValue,
                                  peakResidentMegabytes: ProcessMemory.peakResidentMegabytes())
    }
}

/// The memory of this process.
public enum ProcessMemory {
    /// VmHWM from /proc/self/status (the peak resident set so far), in MB; nil where /proc is
    /// not available.
    public static func peakResidentMegabytes() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first
            return kilobytes.map { $0 / 1024 }
        }
        return nil
    }
}

/// `summary.json`: how a training run ended and where it was best. Written at the end of
/// every invocation (including interrupted and diverged ones), replaced atomically.
public struct TrainingSummary: Codable, Sendable, Equatable {
    /// Errors at one logged iteration.
    public struct Errors: Codable, Sendable, Equatable {
        public var iteration: Int
        public var seconds: Double
        public var cpuSeconds: Double?
        public var trainError: Double?
        public var validationError: Double?
        public var testError: Double?

        enum CodingKeys: String, CodingKey {
            case iteration, seconds, cpuSeconds = "cpu_seconds", trainError = "train_error"
            case validationError = "validation_error", testError = "test_error"
        }

        init(_ r: MetricsRecord) {
            iteration = r.iteration; seconds = r.seconds; cpuSeconds = r.cpuSeconds
            trainError = r.trainError.isNaN ? nil : r.trainError
            validationError = r.validationError; testError = r.testError
        }
    }

    public var stopReason: RunStopReason
    /// Iterations completed, over all invocations.
    public var iterations: Int
    /// Wall-clock and CPU seconds of the run, over all invocations (pre-training included).
    public var seconds: Double
    public var cpuSeconds: Double?
    /// The CPU seconds of pre-training that `cpuSeconds` includes (the run's own `--init
    /// pretrained`, or what its `--init-from` weights record); nil without pre-training. Kept
    /// here so `hf report` gives the share after the pre-trained weights leave the folder.
    public var pretrainingCPUSeconds: Double? = nil
    /// Which error chose `best`: validation, else test, else train.
    public var selectedBy: SelectionCriterion
    /// The iteration whose parameters are in `best/`; nil before any error was measured.
    public var bestIteration: Int?
    public var best: Errors?
    /// The last iteration whose errors were measured.
    public var last: Errors?
    public var optimizer: String
    public var preset: String
    /// Processes of a data-parallel run (1 in one process).
    public var ranks: Int
    public var machine: MachineDescription
    public var toolVersion: String
    /// `--test-once` runs: true when `best.test_error` is the one measurement of the test set,
    /// made at the best iteration's parameters when the run stopped (nil otherwise, and while
    /// such a run is only interrupted).
    public var testMeasuredOnce: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case stopReason = "stop_reason", iterations, seconds, cpuSeconds = "cpu_seconds"
        case pretrainingCPUSeconds = "pretraining_cpu_seconds", selectedBy = "selected_by"
        case bestIteration = "best_iteration", best, last, optimizer, preset, ranks, machine, toolVersion = "tool_version"
        case testMeasuredOnce = "test_measured_once"
    }

    public static let fileName = "summary.json"

    /// Reads a run folder's `summary.json`.
    public static func read(from folder: URL) throws -> TrainingSummary {
        try JSONFile.read(TrainingSummary.self, from: folder.appendingPathComponent(fileName))
    }
}

/// What `best/` holds besides the parameters (its `optimizer_state.json`): where they come
/// from. `hf evaluate --checkpoint RUN/best` reads it like a checkpoint.
public struct BestParametersState: Codable, Sendable, Equatable {
    public var iteration: Int
    public var selectedBy: SelectionCriterion
    public var errors: TrainingSummary.Errors

    enum CodingKeys: String, CodingKey { case iteration, selectedBy = "selected_by", errors }
}
