import ArgumentParser
import Foundation
import Experiments
import MPIShards

/// The tool's side of a data-parallel run. Under `mpirun` it starts MPI and gives the run
/// an MPI `RunContext`; started any other way it is one process and MPI is never touched.
///
/// Rank 0 talks (progress, messages, JSON lines) and writes the run folder; the other ranks
/// stay quiet unless they fail. A failure on any rank prints one line naming the rank and
/// ends every rank of the job (`MPI_Abort`), so no rank waits forever in a sum.
final class ParallelLaunch {
    let group: MPIProcessGroup?
    let context: RunContext

    init() throws {
        if MPIProcessGroup.isLaunchedByMPI() {
            let g = try MPIProcessGroup()
            group = g
            context = RunContext(reducer: g)
        } else {
            group = nil
            context = .single
        }
    }

    /// Whether this process prints progress (rank 0, or the only process).
    var talks: Bool { context.rank == 0 }

    /// Rank 0's clock, on every rank (for names every rank must agree on).
    func agreedDate() -> Date {
        let mine = talks ? Date().timeIntervalSince1970 : 0
        return Date(timeIntervalSince1970: context.reducer.sumAcrossShards(mine))
    }

    /// Runs `body`, then ends MPI. Errors every rank meets alike at the same point (usage
    /// errors, an interruption's exit code) end MPI normally and are reported by rank 0 only;
    /// any other error on any rank of a multi-rank job is printed with the rank and ends the
    /// whole job.
    func run<T>(_ body: () throws -> T) throws -> T {
        guard let group else { return try body() }
        do {
            let result = try body()
            group.finish()
            return result
        } catch let e as ExitCode {
            group.finish(); throw e
        } catch let e as ValidationError {
            group.finish()
            if talks { throw e }
            throw ExitCode.validationFailure
        } catch {
            if group.shardCount == 1 { group.finish(); throw error }
            Console.error("hf: error: rank \(group.shardIndex) of \(group.shardCount): \(error); stopping every rank")
            group.abort(exitCode: 1)
        }
    }
}
