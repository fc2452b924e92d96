import ArgumentParser
import Foundation
import Experiments
import LinearAlgebra
import NeuralNetworks
import Optimization

/// `hf bench`: throughput of the numerical core on the paper's MNIST auto-encoder
/// (784-1000-500-250-30-250-500-1000-784, logistic units, linear 30-unit code, logistic
/// outputs + cross-entropy) with synthetic data of MNIST's shape, against OpenBLAS sgemm.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure gradient and Gauss-Newton product throughput on the MNIST auto-encoder.",
        discussion: """
        Reference: the best of several 2048 x 2048 sgemm products, interleaved with the passes. Then the objective and \
        gradient over all cases (synthetic uniform [0, 1] data of MNIST's shape), and one \
        Gauss-Newton product on a curvature batch after linearization. Then one whole HF \
        iteration (full-data gradient, preconditioned CG with a fixed number of steps on the \
        curvature batch, backtracking, rho, line search), its flops counted from its passes as \
        `hf train` counts them. Flops count 2mnk per gemm of each pass; ratios are to the sgemm \
        rate measured in the same run. The report names the OpenBLAS core, the best core for \
        the processor, the processor and the vector ISA of the elementwise kernels.
        """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Training cases for the gradient pass (MNIST: 60000).")
    var cases = 60_000

    @Option(help: "Cases in the curvature batch for the Gauss-Newton product (paper: 7500).")
    var batch = 7_500

    @Option(help: "Cases per chunk of the full-data gradient pass.")
    var chunkSize = defaultChunkSize

    @Option(help: "OpenBLAS threads (0: OpenBLAS's default).")
    var threads = 0

    @Option(help: "Threads for elementwise kernels (0: one per processor).")
    var elementwiseThreads = 0

    @Option(help: "Timed repetitions of each measurement (the best is reported).")
    var repeats = 3

    @Option(help: "Seed for data and initialization.")
    var seed: UInt64 = 1

    /// CG steps of the timed HF iteration: CG's iteration-limit rule makes every run the same
    /// length, so the time does not depend on where the relative-progress test would stop.
    /// 30 is about the length of an MNIST run's CG in its first iterations.
    @Option(help: "CG iterations of the timed HF iteration (run to this limit).")
    var cgIterations = 30

    /// The objective's L2 weight cost (Martens' code and the MNIST preset: 2e-5).
    static let weightCost = 2e-5

    func validate() throws {
        guard cases > 0 else { throw ValidationError("--cases must be positive") }
        guard batch > 0, batch <= cases else { throw ValidationError("--batch must be in 1...--cases") }
        guard chunkSize > 0 else { throw ValidationError("--chunk-size must be positive") }
        guard elementwiseThreads >= 0 else { throw ValidationError("--elementwise-threads must be non-negative") }
        guard threads >= 0 else { throw ValidationError("--threads must be non-negative") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
        guard cgIterations > 0 else { throw ValidationError("--cg-iterations must be positive") }
    }

    struct Report: Codable {
        var architecture: String
        var parameters: Int
        var cases: Int
        var batch: Int
        var chunk_size: Int
        var blas_threads: Int
        var sgemm_gflops: Double
        var gradient_seconds: Double
        var gradient_gflops: Double
        var gradient_ratio: Double
        var linearization_seconds: Double
        var gv_seconds: Double
        var gv_gflops: Double
        var gv_ratio: Double
        /// The same gemms as the gradient pass (same shapes, same chunks) with no other work:
        /// the BLAS-bound ceiling for these shapes.
        var gradient_gemm_only_seconds: Double
        var gv_gemm_only_seconds: Double
        var elementwise_threads: Int
        /// "avx512" or "avx2+fma" when Float's elementwise kernels run CKernels' AVX-512 or AVX2
        /// versions, "swift-simd" when the portable Swift kernels run (HF_NO_AVX512=1 keeps
        /// AVX2, HF_NO_AVX2=1 the Swift kernels).
        var elementwise_kernels: String
        var peak_rss_mb: Double
        /// The OpenBLAS core that ran, its build, the best core for this processor, and the processor.
        var blas_core: String
        var blas_config: String
        var blas_core_best: String
        var cpu_model: String
        /// Widest vector ISA of the elementwise kernels (as `elementwise_kernels`).
        var isa: String
        /// One HF iteration with `hf_iteration_cg_iterations` CG steps, preconditioner,
        /// backtracking and line search on; its flops (from its passes) per second, and that
        /// rate over the sgemm rate.
        var hf_iteration_seconds: Double
        var hf_iteration_gflops: Double
        var hf_iteration_ratio: Double
        var hf_iteration_cg_iterations: Int
        /// Where the iteration's time went: the full-data gradient pass (with g^2), the
        /// linearization and CG, and backtracking with rho and the line search; and how many
        /// objective-only passes the last part made.
        var hf_iteration_gradient_seconds: Double
        var hf_iteration_cg_seconds: Double
        var hf_iteration_backtracking_seconds: Double
        var hf_iteration_value_passes: Int
    }

    func run() throws {
        BLASThreads.set(threads)
        if elementwiseThreads > 0 { ElementwiseParallelism.threads = elementwiseThreads }
        let sizes = [784, 1000, 500, 250, 30, 250, 500, 1000, 784]
        let activations: [Activation] = [.logistic, .logistic, .logistic, .linear, .logistic, .logistic, .logistic, .logistic]
        let architecture = try NetworkArchitecture(layerSizes: sizes, activations: activations)

        // The machine may be shared: every measurement is repeated in rounds that interleave
        // the sgemm reference, the pass and its gemms alone, and the best of each is kept, so
        // all three see the same (least) contention.
        let reference = SgemmReference(size: 2048)

        var generator = SeededGenerator(seed: seed)
        var pixels = [Float](repeating: 0, count: cases * 784)
        for i in pixels.indices { pixels[i] = Float(generator.uniform()) }
        let data = Matrix(rows: cases, columns: 784, elements: pixels)
        pixels = []
        let network = NeuralNetwork<Float>(architecture: architecture, initialization: .martens, generator: &generator)
        // An auto-encoder's targets are its inputs (the arrays share storage).
        let objective = try NeuralNetworkObjective(architecture: architecture, inputs: data, targets: data,
                                                   weightCost: Self.weightCost, chunkSize: chunkSize)

        var sgemmSeconds = Double.infinity
        var gradientSeconds = Double.infinity, gradientGemmOnly = Double.infinity
        for _ in 0..<repeats {
            sgemmSeconds = min(sgemmSeconds, reference.bestSeconds(of: 2))
            let start = DispatchTime.now()
            let evaluation = try objective.evaluate(at: network.parameters, squaredGradientDiagonal: false)
            gradientSeconds = min(gradientSeconds, Self.seconds(since: start))
            guard evaluation.value.isFinite else { throw CommandFailure("objective is not finite") }
            gradientGemmOnly = min(gradientGemmOnly, Self.gemmOnlySeconds(sizes: sizes, cases: cases, chunk: min(chunkSize, cases), gaussNewton: false))
        }

        let batchRows = Array(generator.permutation(cases).prefix(batch))
        var start = DispatchTime.now()
        let curvature = try objective.curvature(.gaussNewton, at: network.parameters, cases: .indices(batchRows))
        let linearizationSeconds = Self.seconds(since: start)
        var direction = Vector<Float>(zeros: network.parameters.count)
        for i in 0..<direction.count { direction[i] = Float(generator.normal()) }
        var product = Vector<Float>(zeros: direction.count)
        var gvSeconds = Double.infinity, gvGemmOnly = Double.infinity
        for _ in 0..<repeats {
            sgemmSeconds = min(sgemmSeconds, reference.bestSeconds(of: 2))
            start = DispatchTime.now()
            curvature.apply(direction, into: &product)
            gvSeconds = min(gvSeconds, Self.seconds(since: start))
            gvGemmOnly = min(gvGemmOnly, Self.gemmOnlySeconds(sizes: sizes, cases: batch, chunk: batch, gaussNewton: true))
        }
        guard product.isFinite else { throw CommandFailure("Gauss-Newton product is not finite") }

        // One HF iteration as `hf train --preset mnist` runs it, from a state that already holds
        // its full-data gradient (as every iteration after the first does).
        var configuration = HessianFreeConfiguration()
        configuration.curvatureBatches = .fixed(size: batch)
        configuration.weightCost = Self.weightCost
        configuration.conjugateGradient.stoppingRule = .iterationLimit
        configuration.conjugateGradient.maximumIterations = cgIterations
        let optimizer = try HessianFreeOptimizer<Float>(configuration: configuration)
        let ready = try optimizer.evaluated(try optimizer.initialState(parameters: network.parameters, for: objective), on: objective).state
        sgemmSeconds = min(sgemmSeconds, reference.bestSeconds(of: 2))
        start = DispatchTime.now()
        let (after, record) = try optimizer.step(ready, on: objective)
        let iterationSeconds = Self.seconds(since: start)
        let iterationFlops = hessianFreeIterationFlops(
            architecture, caseCount: cases, batchSize: record.curvatureBatchSize,
            gradientEvaluations: after.gradientEvaluations - ready.gradientEvaluations,
            curvatureProducts: after.curvatureProducts - ready.curvatureProducts,
            valueEvaluations: after.valueEvaluations - ready.valueEvaluations,
            squaredGradient: configuration.preconditioner)
        let sgemm = reference.flops / sgemmSeconds / 1e9
        let iterationGflops = iterationFlops / iterationSeconds / 1e9
        let blas = OpenBLASCore.report()
        let isa = Float.elementwiseISA.rawValue

        let gradientGflops = architecture.gradientFlops(cases: cases) / gradientSeconds / 1e9
        let gvGflops = architecture.gaussNewtonProductFlops(cases: batch) / gvSeconds / 1e9
        let report = Report(
            architecture: sizes.map(String.init).joined(separator: "-"), parameters: network.parameters.count,
            cases: cases, batch: batch, chunk_size: chunkSize, blas_threads: BLASThreads.current,
            sgemm_gflops: sgemm, gradient_seconds: gradientSeconds, gradient_gflops: gradientGflops,
            gradient_ratio: gradientGflops / sgemm, linearization_seconds: linearizationSeconds,
            gv_seconds: gvSeconds, gv_gflops: gvGflops, gv_ratio: gvGflops / sgemm,
            gradient_gemm_only_seconds: gradientGemmOnly, gv_gemm_only_seconds: gvGemmOnly,
            elementwise_threads: ElementwiseParallelism.threads,
            elementwise_kernels: isa,
            peak_rss_mb: ProcessMemory.peakResidentMegabytes() ?? -1,
            blas_core: blas.core, blas_config: blas.configuration, blas_core_best: blas.bestCore,
            cpu_model: blas.cpuModel, isa: isa,
            hf_iteration_seconds: iterationSeconds, hf_iteration_gflops: iterationGflops,
            hf_iteration_ratio: iterationGflops / sgemm, hf_iteration_cg_iterations: record.conjugateGradientIterations,
            hf_iteration_gradient_seconds: record.seconds.gradient, hf_iteration_cg_seconds: record.seconds.conjugateGradient,
            hf_iteration_backtracking_seconds: record.seconds.backtrackingAndLineSearch,
            hf_iteration_value_passes: after.valueEvaluations - ready.valueEvaluations)

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            func row(_ name: String, _ value: String) { print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + value) }
            row("architecture", "\(report.architecture) (\(report.parameters) parameters)")
            row("processor", report.cpu_model.isEmpty ? "unknown" : report.cpu_model)
            row("BLAS core (best for processor)", "\(report.blas_core) (\(report.blas_core_best))")
            row("BLAS threads", "\(report.blas_threads)")
            row("elementwise kernels", "\(report.elementwise_kernels), \(report.elementwise_threads) threads")
            row("sgemm 2048^3 reference", String(format: "%.1f GFLOP/s", sgemm))
            row("objective + gradient, \(cases) cases", String(format: "%.3f s  %.1f GFLOP/s  %.0f%% of sgemm", gradientSeconds, gradientGflops, 100 * report.gradient_ratio))
            row("linearization, \(batch) cases", String(format: "%.3f s", linearizationSeconds))
            row("Gauss-Newton product, \(batch) cases", String(format: "%.3f s  %.1f GFLOP/s  %.0f%% of sgemm", gvSeconds, gvGflops, 100 * report.gv_ratio))
            row("gemms alone: gradient, Gv", String(format: "%.3f s, %.3f s", gradientGemmOnly, gvGemmOnly))
            row("HF iteration, \(report.hf_iteration_cg_iterations) CG steps", String(format: "%.3f s  %.1f GFLOP/s  %.0f%% of sgemm", iterationSeconds, iterationGflops, 100 * report.hf_iteration_ratio))
            row("  gradient, CG, backtracking", String(format: "%.3f s, %.3f s, %.3f s (%d value passes)", report.hf_iteration_gradient_seconds,
                                                            report.hf_iteration_cg_seconds, report.hf_iteration_backtracking_seconds,
                                                            report.hf_iteration_value_passes))
            row("peak resident memory", String(format: "%.0f MB", report.peak_rss_mb))
        }
    }

    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// The reference product: C = A B with A, B square `size` x `size` (uniform [0, 1)).
    final class SgemmReference {
        let size: Int
        let a: Matrix<Float>, b: Matrix<Float>
        var c: Matrix<Float>
        var flops: Double { 2 * Double(size) * Double(size) * Double(size) }

        init(size n: Int) {
            size = n
            var g = SeededGenerator(seed: 7)
            a = Matrix(rows: n, columns: n, elements: (0..<(n * n)).map { _ in Float(g.uniform()) })
            b = Matrix(rows: n, columns: n, elements: (0..<(n * n)).map { _ in Float(g.uniform()) })
            c = Matrix(rows: n, columns: n)
            _ = bestSeconds(of: 1) // warm-up: threads started, pages touched
        }

        /// The fastest of `count` products, in seconds.
        func bestSeconds(of count: Int) -> Double {
            var best = Double.infinity
            for _ in 0..<count {
                let start = DispatchTime.now()
                a.withView { av in b.withView { bv in c.withMutableView { cv in gemm(av, .none, bv, .none, into: cv) } } }
                best = min(best, BenchCommand.seconds(since: start))
            }
            return best
        }
    }

    /// Time of the gemms of one gradient pass (forward, weight gradients, backward deltas
    /// except into the inputs) or of one Gauss-Newton product (two more per layer beyond the
    /// first), on zero-filled buffers of the same shapes and chunking, with nothing else.
    static func gemmOnlySeconds(sizes: [Int], cases: Int, chunk: Int, gaussNewton: Bool) -> Double {
        let widest = sizes.max()!
        var a = Matrix<Float>(rows: chunk, columns: widest), b = Matrix<Float>(rows: chunk, columns: widest)
        var w = Matrix<Float>(rows: widest, columns: widest)
        let start = DispatchTime.now()
        var done = 0
        while done < cases {
            let rows = min(chunk, cases - done)
            a.withMutableView { av in b.withMutableView { bv in w.withMutableView { wv in
                func view(_ m: MutableMatrixView<Float>, _ r: Int, _ c: Int) -> MutableMatrixView<Float> {
                    MutableMatrixView(base: m.base, rows: r, columns: c)
                }
                let forwardProducts = gaussNewton ? 2 : 1
                for l in 1..<sizes.count {
                    for k in 0..<(l == 1 ? 1 : forwardProducts) {
                        gemm(view(av, rows, sizes[l - 1]).readOnly, .none, view(wv, sizes[l - 1], sizes[l]).readOnly, .none,
                             into: view(bv, rows, sizes[l]), alpha: 1, beta: k == 0 ? 0 : 1)
                    }
                }
                for l in stride(from: sizes.count - 1, through: 1, by: -1) {
                    gemm(view(av, rows, sizes[l - 1]).readOnly, .transposed, view(bv, rows, sizes[l]).readOnly, .none,
                         into: view(wv, sizes[l - 1], sizes[l]), alpha: 1, beta: 1)
                    if l > 1 {
                        gemm(view(bv, rows, sizes[l]).readOnly, .none, view(wv, sizes[l - 1], sizes[l]).readOnly, .transposed,
                             into: view(av, rows, sizes[l - 1]))
                    }
                }
            } } }
            done += rows
        }
        return seconds(since: start)
    }
}
