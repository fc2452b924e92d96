import ArgumentParser
import Foundation
import LinearAlgebra

/// `hf blas`: which OpenBLAS core this process runs with, and why.
struct BLASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Show the OpenBLAS core in use, the best one for this processor, and the kernel check.",
        discussion: """
        At start-up hf compares the core OpenBLAS picked with the best one for the processor \
        (AVX-512 with BF16: Cooperlake; AVX-512: SkylakeX; AVX2 + FMA: Zen on AMD, Haswell on \
        Intel). When OpenBLAS fell back to an older core and OPENBLAS_CORETYPE is not set, hf \
        checks the better core in a child process (sgemm and dgemm against a plain loop) and \
        restarts itself with OPENBLAS_CORETYPE set to it, saying so on stderr; if the check \
        fails it warns and keeps OpenBLAS's core. OPENBLAS_CORETYPE set by the user is always \
        kept. Test hooks: HF_BLAS_PRETEND_CORE=NAME takes NAME as OpenBLAS's pick, \
        HF_BLAS_PRETEND_BEST_CORE=NAME as the best core.
        """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Print only the core hf forced at start-up (for OPENBLAS_CORETYPE of other processes, as `make test` does), or an empty line when it kept OpenBLAS's choice.")
    var forcedCore = false

    /// The child run of the start-up check: run `GEMMCheck`, print the core, exit 1 on a failure.
    @Flag(help: .hidden)
    var probe = false

    struct Report: Codable {
        var blas_core: String
        var blas_config: String
        var blas_threads: Int
        var blas_core_best: String
        var cpu_model: String
        /// OPENBLAS_CORETYPE as set (null when unset).
        var openblas_coretype: String?
        /// Whether hf set OPENBLAS_CORETYPE itself at start-up.
        var forced_by_hf: Bool
        var gemm_check: String

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(blas_core, forKey: .blas_core); try c.encode(blas_config, forKey: .blas_config)
            try c.encode(blas_threads, forKey: .blas_threads); try c.encode(blas_core_best, forKey: .blas_core_best)
            try c.encode(cpu_model, forKey: .cpu_model); try c.encode(openblas_coretype, forKey: .openblas_coretype)
            try c.encode(forced_by_hf, forKey: .forced_by_hf); try c.encode(gemm_check, forKey: .gemm_check)
        }
    }

    func run() throws {
        if probe {
            let failures = GEMMCheck.run()
            print(OpenBLASCore.current)
            if let first = failures.first {
                Console.error("hf: \(failures.count) gemm check(s) failed with the \(OpenBLASCore.current) core; first: \(first)")
                throw ExitCode.failure
            }
            return
        }
        if forcedCore {
            print(BLASStartup.forcedCore ?? "")
            return
        }
        let blas = OpenBLASCore.report()
        let failures = GEMMCheck.run()
        let check = failures.isEmpty ? "passed" : "failed: " + failures.map(\.description).joined(separator: "; ")
        let report = Report(blas_core: blas.core, blas_config: blas.configuration, blas_threads: blas.threads,
                            blas_core_best: blas.bestCore, cpu_model: blas.cpuModel, openblas_coretype: blas.coreTypeVariable,
                            forced_by_hf: BLASStartup.forcedCore != nil, gemm_check: check)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            func row(_ name: String, _ value: String) { print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + value) }
            row("processor", blas.cpuModel.isEmpty ? "unknown" : blas.cpuModel)
            row("OpenBLAS core", blas.core)
            row("best core for processor", blas.bestCore)
            let setting = blas.coreTypeVariable.map { report.forced_by_hf ? "\($0) (set by hf at start-up)" : "\($0) (set by you)" } ?? "unset"
            row(OpenBLASCore.coreTypeVariable, setting)
            row("OpenBLAS build", blas.configuration)
            row("OpenBLAS threads", "\(blas.threads)")
            row("gemm check", check)
        }
        if !failures.isEmpty { throw ExitCode.failure }
    }
}
