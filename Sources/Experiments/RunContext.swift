import Datasets
import Optimization

/// How a training run is spread over processes.
///
/// In one process (`single`) the run holds all the data and writes its run folder. In a
/// data-parallel run (`mpirun -np P hf train ...`) every process holds one block of each
/// split (`shard`), every sum over cases goes through `reducer`, and the optimizer runs
/// replicated: each process takes the same steps from the same sums. Only the first process
/// (rank 0) writes the run folder, checkpoints and metrics; decisions that depend on a
/// process's own clock or signals (time limit, interruption) are agreed by a sum across
/// processes, so all stop at the same iteration.
public struct RunContext: Sendable {
    /// Sums across processes; `LocalShards` in one process.
    public let reducer: any ShardReducer

    public init(reducer: any ShardReducer) { self.reducer = reducer }

    /// One process holding all the data.
    public static let single = RunContext(reducer: LocalShards())

    /// This process's rank, 0..<rankCount.
    public var rank: Int { reducer.shardIndex }
    /// The number of processes.
    public var rankCount: Int { reducer.shardCount }
    /// The block of each split this process holds.
    public var shard: DataShard { DataShard(index: rank, count: rankCount) }
    /// Whether this process writes the run folder (rank 0).
    public var writesFiles: Bool { rank == 0 }

    /// True on every process when `flag` is true on any (a sum across processes).
    public func anyProcess(_ flag: Bool) -> Bool {
        rankCount == 1 ? flag : reducer.sumAcrossShards(flag ? 1 : 0) > 0
    }
}
