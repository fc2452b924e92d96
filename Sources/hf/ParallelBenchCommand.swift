import ArgumentParser
import Foundation
import Datasets
import Experiments
import LinearAlgebra
import MPIShards
import NeuralNetworks
import Optimization

/// `mpirun -np P hf bench-mpi`: the data-parallel efficiency of the MNIST auto-encoder's
/// passes, P ranks against one, and the time of an all-reduce of its parameter vector.
struct ParallelBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-mpi",
        abstract: "Measure data-parallel speed-up under mpirun: P ranks against 1 rank on the MNIST auto-encoder.",
        discussion: """
        Run under mpirun with P >= 2, e.g. `mpirun -np 2 hf bench-mpi --json` (as root in a container add \
        --allow-run-as-root). Every rank makes the same synthetic data of MNIST's shape (uniform [0, 1)). \
        First rank 0 alone, on all cases, times the objective and gradient (with the squared-gradient diagonal, \
        as HF asks for it), one Gauss-Newton product on the curvature batch, and one whole HF iteration of the \
        mnist preset with a fixed number of CG steps; the other ranks sleep meanwhile. Then all P ranks, each \
        on its block of the cases, time the same three with their sums across ranks. Efficiency is \
        T(1) / (P T(P)); the target for P = 2 with one thread per rank is >= 0.90. Last, the all-reduce of \
        a parameter-sized Float vector: the fixed-order sum training uses, and MPI_Allreduce for reference; \
        and the time per CG step of the vector work every rank repeats (CG on a diagonal operator). \
        Each time is the best of --repeats (one HF iteration is timed once per repeat).
        """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false
    @Option(help: "Training cases (MNIST: 60000).")
    var cases = 60_000
    @Option(help: "Curvature batch size (mnist preset: 7500).")
    var batch = 7_500
    @Option(help: "CG steps of the timed HF iteration (fixed, so P = 1 and P ranks do the same work).")
    var cgIterations = 10
    @Option(help: "OpenBLAS and elementwise threads per rank.")
    var threads = 1
    @Option(help: "Timed repetitions of each measurement (the best is reported).")
    var repeats = 2
    @Option(help: "Seed for data and initialization.")
    var seed: UInt64 = 1

    func validate() throws {
        guard cases > 0, batch > 0, batch <= cases else { throw ValidationError("need 1 <= --batch <= --cases") }
        guard cgIterations > 0 else { throw ValidationError("--cg-iterations must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
    }

    struct Timings: Codable {
        var gradient_seconds: Double
        var gv_seconds: Double
        var iteration_seconds: Double
        var iteration_cg_steps: Int
    }

    struct Report: Codable {
        var architecture: String
        var parameters: Int
        var ranks: Int
        var threads_per_rank: Int
        var cases: Int
        var batch: Int
        var cg_iterations: Int
        var one_rank: Timings
        var all_ranks: Timings
        var gradient_efficiency: Double
        var gv_efficiency: Double
        var iteration_efficiency: Double
        var allreduce_floats: Int
        var allreduce_seconds: Double
        var mpi_allreduce_seconds: Double
        /// Seconds per CG step of the work every rank repeats whatever P is: CG's vector
        /// operations on the parameter vector (and the damping term), without the product.
        var cg_vector_seconds_per_step: Double
        /// Flops of one full-data gradient pass and one Gauss-Newton product (2mnk per gemm),
        /// the inputs of docs/scaling.md's model.
        var gradient_flops: Double
        var gv_flops: Double
    }

    func run() throws {
        ComputeThreads.set(threads)
        let parallel = try ParallelLaunch()
        try parallel.run {
            guard let group = parallel.group, group.shardCount >= 2 else {
                throw ValidationError("run under mpirun with at least 2 ranks, e.g. mpirun -np 2 hf bench-mpi")
            }
            let report = try measure(group: group)
            guard parallel.talks else { return }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                Console.line(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                func row(_ name: String, _ value: String) { Console.line(name.padding(toLength: 34, withPad: " ", startingAt: 0) + value) }
                row("architecture", "\(report.architecture) (\(report.parameters) parameters)")
                row("ranks x threads", "\(report.ranks) x \(report.threads_per_rank) against 1 x \(report.threads_per_rank)")
                for (name, one, all, e) in [("objective + gradient, \(cases) cases", report.one_rank.gradient_seconds, report.all_ranks.gradient_seconds, report.gradient_efficiency),
                                            ("Gauss-Newton product, \(batch) cases", report.one_rank.gv_seconds, report.all_ranks.gv_seconds, report.gv_efficiency),
                                            ("HF iteration, \(cgIterations) CG steps", report.one_rank.iteration_seconds, report.all_ranks.iteration_seconds, report.iteration_efficiency)] {
                    row(name, String(format: "%.3f s -> %.3f s  efficiency %.2f", one, all, e))
                }
                row("all-reduce, \(report.allreduce_floats) floats", String(format: "%.4f s (MPI_Allreduce %.4f s)", report.allreduce_seconds, report.mpi_allreduce_seconds))
                row("CG vector work per step", String(format: "%.4f s (every rank)", report.cg_vector_seconds_per_step))
            }
        }
    }

    /// Rank 0's report (the other ranks compute the same and do not print it).
    func measure(group: MPIProcessGroup) throws -> Report {
        var c = Preset.mnist.configuration()
        c.hessianFree.curvatureBatches = .fixed(size: batch)
        c.hessianFree.conjugateGradient.stoppingRule = .iterationLimit
        c.hessianFree.conjugateGradient.maximumIterations = cgIterations
        let architecture = c.architecture
        let columns = architecture.inputSize

        var generator = SeededGenerator(seed: seed)
        var pixels = [Float](repeating: 0, count: cases * columns)
        for i in pixels.indices { pixels[i] = Float(generator.uniform()) }
        let data = Matrix(rows: cases, columns: columns, elements: pixels)
        pixels = []
        let theta = NeuralNetwork<Float>(architecture: architecture, initialization: c.initialization, seed: seed).parameters
        let batchCases = Array(generator.permutation(cases).prefix(batch))

        // 1 rank: rank 0 alone on every case; the others sleep in a barrier.
        var one = Timings(gradient_seconds: 0, gv_seconds: 0, iteration_seconds: 0, iteration_cg_steps: 0)
        if group.shardIndex == 0 {
            let objective = try NeuralNetworkObjective(architecture: architecture, inputs: data, targets: data,
                                                       weightCost: c.weightCost, chunkSize: c.chunkSize)
            one = try time(objective, theta: theta, batch: batchCases, configuration: c.hessianFree, sync: {})
        }
        try group.idleBarrier()

        // P ranks, each on its block.
        let block = DataShard(index: group.shardIndex, count: group.shardCount).rows(of: cases)
        let shard = data.rows(block)
        let objective = try NeuralNetworkObjective(architecture: architecture, inputs: shard, targets: shard,
                                                   weightCost: c.weightCost, chunkSize: c.chunkSize, reducer: group)
        var all = try time(objective, theta: theta, batch: batchCases, configuration: c.hessianFree, sync: { try group.barrier() })
        // The slowest rank's time is the job's.
        let slowest = Self.slowest([all.gradient_seconds, all.gv_seconds, all.iteration_seconds], group)
        (all.gradient_seconds, all.gv_seconds, all.iteration_seconds) = (slowest[0], slowest[1], slowest[2])

        // All-reduce of a parameter-sized vector.
        var vector = Vector<Float>(zeros: theta.count)
        var fixedOrder = Double.infinity, library = Double.infinity
        for _ in 0..<max(repeats, 3) {
            for i in 0..<vector.count { vector[i] = Float(group.shardIndex + 1) * 1e-3 }
            try group.barrier()
            var start = DispatchTime.now()
            group.sumAcrossShards(&vector)
            fixedOrder = min(fixedOrder, BenchCommand.seconds(since: start))
            try group.barrier()
            start = DispatchTime.now()
            try vector.elements.withUnsafeMutableBufferPointer { try group.libraryAllReduce($0) }
            library = min(library, BenchCommand.seconds(since: start))
        }
        let slowestReduce = Self.slowest([fixedOrder, library], group)
        let cgVector = Self.slowest([try cgVectorSecondsPerStep(dimension: theta.count, group: group)], group)[0]

        let p = Double(group.shardCount)
        return Report(
            architecture: architecture.layerSizes.map(String.init).joined(separator: "-"), parameters: theta.count,
            ranks: group.shardCount, threads_per_rank: threads, cases: cases, batch: batch, cg_iterations: cgIterations,
            one_rank: one, all_ranks: all,
            gradient_efficiency: one.gradient_seconds / (p * all.gradient_seconds),
            gv_efficiency: one.gv_seconds / (p * all.gv_seconds),
            iteration_efficiency: one.iteration_seconds / (p * all.iteration_seconds),
            allreduce_floats: theta.count, allreduce_seconds: slowestReduce[0], mpi_allreduce_seconds: slowestReduce[1],
            cg_vector_seconds_per_step: cgVector,
            gradient_flops: architecture.gradientFlops(cases: cases),
            gv_flops: architecture.gaussNewtonProductFlops(cases: batch))
    }

    /// Best-of-`repeats` times of the gradient pass, one Gauss-Newton product and one HF
    /// iteration; `sync` lines the ranks up before each timed call.
    func time(_ objective: NeuralNetworkObjective<Float>, theta: Vector<Float>, batch: [Int],
              configuration: HessianFreeConfiguration, sync: () throws -> Void) throws -> Timings {
        var t = Timings(gradient_seconds: .infinity, gv_seconds: .infinity, iteration_seconds: .infinity, iteration_cg_steps: 0)
        let curvature = try objective.curvature(.gaussNewton, at: theta, cases: .indices(batch))
        var direction = Vector<Float>(zeros: theta.count)
        var g = SeededGenerator(seed: seed &+ 1)
        for i in 0..<direction.count { direction[i] = Float(g.normal()) }
        var product = Vector<Float>(zeros: theta.count)
        let optimizer = try HessianFreeOptimizer<Float>(configuration: configuration)
        for _ in 0..<repeats {
            try sync()
            var start = DispatchTime.now()
            let e = try objective.evaluate(at: theta, squaredGradientDiagonal: true)
            t.gradient_seconds = min(t.gradient_seconds, BenchCommand.seconds(since: start))
            guard e.value.isFinite else { throw ValidationError("objective is not finite") }
            try sync()
            start = DispatchTime.now()
            curvature.apply(direction, into: &product)
            t.gv_seconds = min(t.gv_seconds, BenchCommand.seconds(since: start))
            try sync()
            start = DispatchTime.now()
            let step = try optimizer.step(try optimizer.initialState(parameters: theta, for: objective), on: objective)
            t.iteration_seconds = min(t.iteration_seconds, BenchCommand.seconds(since: start))
            t.iteration_cg_steps = step.record.conjugateGradientIterations
        }
        guard product.isFinite else { throw ValidationError("Gauss-Newton product is not finite") }
        return t
    }

    /// Best-of-`repeats` seconds per CG step on a diagonal operator with a spread spectrum (so
    /// CG runs all `cgIterations` steps), preconditioned as HF's CG is: the vector operations
    /// of a step plus the damping term, with a product that costs one elementwise multiply.
    func cgVectorSecondsPerStep(dimension n: Int, group: MPIProcessGroup) throws -> Double {
        let diagonal = Vector<Float>((0..<n).map { 1 + Float($0 % 997) })
        let b = Vector<Float>(repeating: 1, count: n)
        let solver = ConjugateGradientSolver<Float>(dimension: n)
        var configuration = ConjugateGradientConfiguration()
        configuration.stoppingRule = .iterationLimit
        configuration.maximumIterations = cgIterations
        var best = Double.infinity
        for _ in 0..<repeats {
            try group.barrier()
            let start = DispatchTime.now()
            let result = solver.solve(apply: { v, out in
                out.assign(v); out.multiply(elementwiseBy: diagonal); out.add(v, scaledBy: 1e-3)
            }, b: b, start: nil, preconditioner: diagonal, configuration: configuration)
            best = min(best, BenchCommand.seconds(since: start) / Double(max(result.iterations, 1)))
        }
        return best
    }

    /// The elementwise maximum of `times` over all ranks: each rank fills its row of a
    /// ranks x count table, the table is summed across ranks, and the columns' maxima taken.
    static func slowest(_ times: [Double], _ group: MPIProcessGroup) -> [Double] {
        let n = times.count, p = group.shardCount
        var table = [Double](repeating: 0, count: n * p)
        table.replaceSubrange((group.shardIndex * n)..<((group.shardIndex + 1) * n), with: times)
        table.withUnsafeMutableBufferPointer { group.sumAcrossShards($0) }
        return (0..<n).map { k in (0..<p).map { table[$0 * n + k] }.max()! }
    }
}
