import CMPI
import Foundation
import Optimization

/// Errors of the MPI backend.
public enum MPIError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned an error code (MPI's message included).
    case call(String, message: String)
    /// A sum too long for MPI's 32-bit counts.
    case tooLong(Int)

    public var description: String {
        switch self {
        case .call(let f, let m): return "\(f) failed: \(m)"
        case .tooLong(let n): return "a sum of \(n) values is too long for MPI's 32-bit counts"
        }
    }
}

/// The processes of an `mpirun` job (MPI_COMM_WORLD) as a `ShardReducer`: process `rank`
/// holds shard `rank` of the training cases, and every sum over cases is an all-reduce.
///
/// Determinism. The all-reduce fixes its summation order itself instead of leaving it to
/// MPI's algorithm choice (which may depend on message size and process placement):
///
/// 1. reduce-scatter: the vector is cut into `shardCount` blocks (block j: elements
///    n*j/P ..< n*(j+1)/P); `MPI_Alltoallv` sends block j of every process's partial sum to
///    process j;
/// 2. process j adds its block's P partials in rank order, ((s_0 + s_1) + s_2) + ...;
/// 3. all-gather: `MPI_Allgatherv` copies every summed block to every process.
///
/// Each element is thus summed by one process in one fixed order, and every process
/// receives the same bits; the same P gives bit-identical results, and P = 1 adds nothing.
/// Each process sends and receives 2 (P - 1)/P n values, as a ring all-reduce does.
///
/// Only the thread that started MPI may call it (MPI_THREAD_FUNNELED); the optimizer and
/// the objective call the reducer from one thread.
public final class MPIProcessGroup: ShardReducer, @unchecked Sendable {
    public let shardIndex: Int
    public let shardCount: Int
    private var floatScratch: [Float] = []
    private var doubleScratch: [Double] = []
    private var counts: [Int32], displacements: [Int32], receiveCounts: [Int32], receiveDisplacements: [Int32]
    private var finished = false

    /// True when this process was started by `mpirun` (Open MPI or PMIx launch variables);
    /// a plain `hf` never starts MPI.
    public static func isLaunchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil || environment["PMI_RANK"] != nil
    }

    /// Starts MPI (`MPI_Init_thread`) and joins MPI_COMM_WORLD. Call once per process.
    public init() throws {
        var provided: Int32 = 0
        // MPI_COMM_WORLD keeps MPI's default error handler (MPI_ERRORS_ARE_FATAL): a failed
        // communication ends the whole job with MPI's message, never a hang; a sum that some
        // processes finished and others did not could not be recovered anyway.
        try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(hf_mpi_comm_world(), &rank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(hf_mpi_comm_world(), &size), "MPI_Comm_size")
        shardIndex = Int(rank); shardCount = Int(size)
        counts = Array(repeating: 0, count: Int(size)); displacements = counts
        receiveCounts = counts; receiveDisplacements = counts
    }

    /// Ends MPI (`MPI_Finalize`) after all processes got here.
    public func finish() {
        guard !finished else { return }
        finished = true
        MPI_Finalize()
    }

    /// Ends every process of the job (`MPI_Abort`), for a failure on any one of them. Print
    /// the reason first: the other processes are killed wherever they are.
    public func abort(exitCode: Int32) -> Never {
        MPI_Abort(hf_mpi_comm_world(), exitCode)
        exit(exitCode)
    }

    /// Waits until every process got here.
    public func barrier() throws {
        try Self.check(MPI_Barrier(hf_mpi_comm_world()), "MPI_Barrier")
    }

    /// Waits until every process got here, sleeping `pollMicroseconds` between checks instead
    /// of spinning (MPI's blocking waits poll at full speed): for a process that waits while
    /// another measures alone on a shared machine.
    public func idleBarrier(pollMicroseconds: UInt32 = 1000) throws {
        var request: MPI_Request? = nil
        try Self.check(MPI_Ibarrier(hf_mpi_comm_world(), &request), "MPI_Ibarrier")
        var done: Int32 = 0
        while done == 0 {
            try Self.check(MPI_Test(&request, &done, nil), "MPI_Test")
            if done == 0 { usleep(pollMicroseconds) }
        }
    }

    public func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) {
        sum(values, scratch: &floatScratch, type: hf_mpi_float())
    }

    public func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) {
        sum(values, scratch: &doubleScratch, type: hf_mpi_double())
    }

    /// The MPI library's own all-reduce (`MPI_Allreduce`, MPI_SUM) of `values`, in place: for
    /// comparing its time with the fixed-order sum's (`hf bench --mpi`); not used in training.
    public func libraryAllReduce(_ values: UnsafeMutableBufferPointer<Float>) throws {
        guard values.count <= Int(Int32.max) else { throw MPIError.tooLong(values.count) }
        try Self.check(MPI_Allreduce(hf_mpi_in_place(), values.baseAddress, Int32(values.count), hf_mpi_float(), hf_mpi_sum(),
                                     hf_mpi_comm_world()), "MPI_Allreduce")
    }

    /// The fixed-order all-reduce described above.
    private func sum<S: BinaryFloatingPoint>(_ values: UnsafeMutableBufferPointer<S>, scratch: inout [S], type: MPI_Datatype) {
        let p = shardCount, n = values.count
        guard p > 1, n > 0 else { return }
        precondition(n <= Int(Int32.max), "\(MPIError.tooLong(n))")
        func start(_ j: Int) -> Int { n * j / p }
        let mine = start(shardIndex)..<start(shardIndex + 1)
        for j in 0..<p {
            counts[j] = Int32(start(j + 1) - start(j)); displacements[j] = Int32(start(j))
            receiveCounts[j] = Int32(mine.count); receiveDisplacements[j] = Int32(j * mine.count)
        }
        if scratch.count < p * mine.count { scratch = Array(repeating: 0, count: p * mine.count) }
        scratch.withUnsafeMutableBufferPointer { partials in
            let comm = hf_mpi_comm_world()
            let scattered = MPI_Alltoallv(values.baseAddress, counts, displacements, type,
                                          partials.baseAddress, receiveCounts, receiveDisplacements, type, comm)
            precondition(scattered == MPI_SUCCESS, "MPI_Alltoallv failed under MPI_ERRORS_ARE_FATAL")
            let m = mine.count
            for k in 0..<m {
                var s = partials[k]
                for j in 1..<p { s += partials[j * m + k] }
                values[mine.lowerBound + k] = s
            }
            let gathered = MPI_Allgatherv(hf_mpi_in_place(), 0, type, values.baseAddress, counts, displacements, type, comm)
            precondition(gathered == MPI_SUCCESS, "MPI_Allgatherv failed under MPI_ERRORS_ARE_FATAL")
        }
    }

    private static func check(_ code: Int32, _ function: String) throws {
        guard code != MPI_SUCCESS else { return }
        throw MPIError.call(function, message: message(code))
    }

    private static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(max(length, 0))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
