import LinearAlgebra
import Optimization

/// The training objective of a feed-forward network on a data set, in the form the
/// Hessian-free optimizer consumes:
///
///     f(theta) = (1/D) sum_i L(y_i(theta), t_i) + (weightCost / 2) |theta|^2
///
/// with L the loss matched to the output activation (see `OutputLoss`), and the weight cost
/// on every parameter (Martens' code) or, with `weightCostOnBiases == false`, on weights only.
///
/// Full-data passes run in chunks of `chunkSize` cases through work buffers allocated once
/// (the idle curvature operator's, when it has room: see `fullDataWorkspace`); chunk sums
/// are added in a fixed order, then summed across shards through `reducer` before division
/// by the global case count.
///
/// In a data-parallel run each process holds one block of the training set (`inputs`,
/// `targets`: the cases `caseOffset..<caseOffset + inputs.rows` of all shards' cases).
/// Case selections (curvature mini-batches, backtracking's batch values, mini-batch
/// gradients) name global cases; each process works on the ones it holds and the partial
/// sums are added across shards, so every process gets the same means.
public final class NeuralNetworkObjective<Scalar: NetworkScalar>: HFObjective {
    public let architecture: NetworkArchitecture
    public let layout: ParameterLayout
    /// Training inputs: cases x n_0, row-major.
    public let inputs: Matrix<Scalar>
    /// Training targets: cases x n_L, row-major (rows summing to 1 for softmax outputs).
    public let targets: Matrix<Scalar>
    /// The weight-cost coefficient (Martens' `weightcost`; 2e-5 in his CURVES demo).
    public let weightCost: Double
    /// Whether the weight cost also applies to biases (true in Martens' code).
    public let weightCostOnBiases: Bool
    /// Cases per chunk in full-data passes (bounds the memory of activations).
    public let chunkSize: Int
    public let reducer: any ShardReducer
    /// Training cases over all shards (the divisor of every full-data mean).
    public let globalCaseCount: Int
    /// The global index of this process's first case.
    public let caseOffset: Int

    let passes: NetworkPasses<Scalar>
    let regularizer: WeightCost
    /// Training-set metrics at the parameters of the latest `evaluate` call, gathered in the
    /// same pass as the gradient (the output activations are at hand there), so logging the
    /// training error each iteration costs no extra pass.
    public private(set) var lastEvaluationMetrics: NetworkMetrics?

    /// Whether the targets are the inputs themselves (an auto-encoder: the same memory), so
    /// no pass needs to gather target rows.
    let targetsAreInputs: Bool
    /// The full-data passes' own workspace, for when the curvature scratch cannot serve
    /// (allocated on first use, freed once the scratch takes over).
    private(set) var ownWorkspace: PassWorkspace<Scalar>?
    /// The last curvature operator's memory, reused by the next operator of the same kind and
    /// batch size once no operator holds it (see `CurvatureScratch`).
    private(set) var curvatureScratch: CurvatureScratch<Scalar>?

    /// - Parameters:
    ///   - inputs: cases x n_0. targets: cases x n_L.
    ///   - chunkSize: cases per chunk of a full-data pass (see `defaultChunkSize`).
    public init(architecture: NetworkArchitecture, inputs: Matrix<Scalar>, targets: Matrix<Scalar>,
                weightCost: Double = 0, weightCostOnBiases: Bool = true, chunkSize: Int = defaultChunkSize,
                reducer: any ShardReducer = LocalShards()) throws {
        try architecture.checkData(inputs: inputs, targets: targets)
        guard chunkSize > 0 else { throw NetworkError.shapeMismatch("chunk size must be positive, got \(chunkSize)") }
        guard weightCost >= 0, weightCost.isFinite else { throw NetworkError.shapeMismatch("weight cost must be finite and non-negative, got \(weightCost)") }
        self.architecture = architecture
        layout = architecture.layout
        self.inputs = inputs; self.targets = targets
        targetsAreInputs = inputs.rows == targets.rows && inputs.columns == targets.columns
            && inputs.storage.withUnsafeBufferPointer { x in targets.storage.withUnsafeBufferPointer { x.baseAddress == $0.baseAddress } }
        self.weightCost = weightCost; self.weightCostOnBiases = weightCostOnBiases
        self.chunkSize = chunkSize
        self.reducer = reducer
        (caseOffset, globalCaseCount) = reducer.caseOffsetAndTotal(localCount: inputs.rows)
        passes = NetworkPasses(architecture: architecture)
        regularizer = WeightCost(coefficient: weightCost, includesBiases: weightCostOnBiases, layout: layout)
    }

    public var parameterCount: Int { layout.parameterCount }
    public var caseCount: Int { globalCaseCount }
    public var supportedCurvatures: [CurvatureKind] { CurvatureKind.allCases }

    /// Cases per chunk of a full-data pass.
    var fullDataChunk: Int { min(chunkSize, max(inputs.rows, 1)) }

    /// The work buffers of a full-data pass (with room for the squared-gradient diagonal when
    /// `squares`). When no curvature operator holds the cached curvature scratch and its
    /// workspace has room for a chunk, the pass runs there and the objective's own workspace
    /// is freed: between CG runs the operator's memory (for MNIST about 290 MB) is idle, and
    /// the full-data passes need about 100 MB. The chunk size, not the buffers, fixes the
    /// order of the sums, so results do not depend on which workspace served.
    func fullDataWorkspace(squares: Bool) -> PassWorkspace<Scalar> {
        let chunk = fullDataChunk
        if isKnownUniquelyReferenced(&curvatureScratch), let w = curvatureScratch?.workspace,
           w.capacity >= chunk, !squares || w.squaresCapacity >= chunk {
            ownWorkspace = nil
            return w
        }
        if let w = ownWorkspace { return w }  // made with room for squares
        let w = PassWorkspace<Scalar>(architecture: architecture, capacity: chunk, gathersTargets: !targetsAreInputs)
        ownWorkspace = w
        return w
    }

    /// Objective and gradient on all training cases; with `squaredGradientDiagonal`, also
    /// (1/D) sum_i g_i * g_i (per-case loss gradients, no weight cost) in the same pass.
    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool) throws -> Evaluation<Scalar> {
        try evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal, reusing: nil)
    }

    /// The full-data evaluation, written into `spent`'s gradient and g^2 vectors when they
    /// have the right length (zeroed first; when the caller still holds another copy of them,
    /// copy-on-write gives the pass vectors of its own, so reuse never changes a result).
    public func evaluate(at parameters: Vector<Scalar>, squaredGradientDiagonal: Bool,
                         reusing spent: consuming Evaluation<Scalar>?) throws -> Evaluation<Scalar> {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        var recycled = spent
        var gradient = recycled?.gradient ?? Vector<Scalar>(zeros: 0)
        var squared = squaredGradientDiagonal ? recycled?.squaredGradientDiagonal : nil
        recycled = nil  // the vectors above are now held only here (if the caller let go of them)
        if gradient.count == parameterCount { gradient.setZero() } else { gradient = Vector(zeros: parameterCount) }
        if squaredGradientDiagonal {
            if squared?.count == parameterCount { squared!.setZero() } else { squared = Vector(zeros: parameterCount) }
        }
        let scale = Scalar(1.0 / Double(max(globalCaseCount, 1)))
        let ws = fullDataWorkspace(squares: squaredGradientDiagonal)
        let chunk = fullDataChunk
        let tally = ErrorTally()
        var loss = parameters.elements.withUnsafeBufferPointer { theta in
            inputs.storage.withUnsafeBufferPointer { x in
                targets.storage.withUnsafeBufferPointer { t in
                    gradient.elements.withUnsafeMutableBufferPointer { g in
                        if squared == nil {
                            return passes.accumulate(parameters: theta.baseAddress!, inputs: x.baseAddress!, targets: t.baseAddress!,
                                                     totalRows: inputs.rows, rows: nil, workspace: ws, chunk: chunk, scale: scale,
                                                     gradient: g.baseAddress!, squaredGradient: nil, errors: tally)
                        }
                        return squared!.elements.withUnsafeMutableBufferPointer { g2 in
                            passes.accumulate(parameters: theta.baseAddress!, inputs: x.baseAddress!, targets: t.baseAddress!,
                                              totalRows: inputs.rows, rows: nil, workspace: ws, chunk: chunk, scale: scale,
                                              gradient: g.baseAddress!, squaredGradient: g2.baseAddress!, errors: tally)
                        }
                    }
                }
            }
        }
        loss = reducer.sumAcrossShards(loss)
        lastEvaluationMetrics = NetworkMetrics(
            sums: (loss, reducer.sumAcrossShards(tally.squaredError), Int(reducer.sumAcrossShards(Double(tally.misclassified)).rounded())),
            cases: globalCaseCount, loss: architecture.loss)
        reducer.sumAcrossShards(&gradient)
        if squared != nil { reducer.sumAcrossShards(&squared!) }
        let value = parameters.elements.withUnsafeBufferPointer { theta in
            gradient.elements.withUnsafeMutableBufferPointer { g in
                regularizer.add(theta.baseAddress!, into: g.baseAddress!)
                return loss / Double(max(globalCaseCount, 1)) + regularizer.value(theta.baseAddress!)
            }
        }
        // Every element is finite exactly when the (Double) sum of squares is.
        guard gradient.squaredNorm.isFinite else { throw ObjectiveError.nonFiniteGradient }
        return Evaluation(value: value, gradient: gradient, squaredGradientDiagonal: squared)
    }

    /// The local rows of the global case indices `selection` that this process holds, in
    /// the selection's order. Throws when an index is outside 0..<caseCount.
    func localRows(_ selection: [Int]) throws -> [Int] {
        guard selection.allSatisfy({ $0 >= 0 && $0 < globalCaseCount }) else {
            throw ObjectiveError.shapeMismatch("case indices must lie in 0..<\(globalCaseCount)")
        }
        let held = caseOffset..<(caseOffset + inputs.rows)
        return selection.compactMap { held.contains($0) ? $0 - caseOffset : nil }
    }

    /// Mean loss on the selected (global) cases plus the weight cost; the loss is summed
    /// across shards. An index outside 0..<caseCount is a programming error.
    public func value(at parameters: Vector<Scalar>, cases: CaseSelection) -> Double {
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        var local: [Int]? = nil, count = globalCaseCount
        if case .indices(let selection) = cases {
            do { local = try localRows(selection) } catch { preconditionFailure("\(error)") }
            count = selection.count
        }
        let ws = fullDataWorkspace(squares: false)
        var loss = local?.isEmpty == true ? 0 : parameters.elements.withUnsafeBufferPointer { theta in
            inputs.storage.withUnsafeBufferPointer { x in
                targets.storage.withUnsafeBufferPointer { t in
                    passes.accumulate(parameters: theta.baseAddress!, inputs: x.baseAddress!, targets: t.baseAddress!,
                                      totalRows: inputs.rows, rows: local, workspace: ws, chunk: fullDataChunk, scale: 1,
                                      gradient: nil, squaredGradient: nil)
                }
            }
        }
        loss = reducer.sumAcrossShards(loss)
        let penalty = parameters.elements.withUnsafeBufferPointer { regularizer.value($0.baseAddress!) }
        return loss / Double(max(count, 1)) + penalty
    }

    /// Linearizes at `parameters` on the selected cases (the forward pass, and for the
    /// Hessian and Fisher the backward pass, run once here) and returns B v as an operator.
    /// Each process linearizes the cases of the batch it holds; every product is summed
    /// across shards and divided by the whole batch's size.
    ///
    /// The batch is gathered once and processed whole (no chunking), so the operator holds
    /// every layer's activations of all its cases: about 4 * B * sum(n_l) bytes in Float, plus
    /// work buffers (for the MNIST auto-encoder and B = 7500, roughly 250 MB for Gauss-Newton,
    /// about three times that for the Hessian). Finite differences run chunked gradient passes
    /// over the gathered batch instead.
    public func curvature(_ kind: CurvatureKind, at parameters: Vector<Scalar>, cases: CaseSelection) throws -> any CurvatureOperator<Scalar> {
        guard parameters.count == parameterCount else {
            throw ObjectiveError.shapeMismatch("expected \(parameterCount) parameters, got \(parameters.count)")
        }
        let local: [Int], batchSize: Int
        switch cases {
        case .all: local = Array(0..<inputs.rows); batchSize = globalCaseCount
        case .indices(let i): local = try localRows(i); batchSize = i.count
        }
        guard batchSize > 0 else { throw ObjectiveError.shapeMismatch("a curvature batch needs at least one case") }
        let batch = CurvatureBatch(inputs: inputs, targets: targets, rows: local, batchSize: batchSize,
                                   scratch: reusableScratch(kind: kind, rows: local.count))
        switch kind {
        case .finiteDifference:
            return FiniteDifferenceHessianOperator(passes: passes, parameters: parameters, batch: batch,
                                                   regularizer: regularizer, chunkSize: chunkSize, reducer: reducer)
        case .gaussNewton, .hessian, .fisher:
            return NetworkCurvatureOperator(kind: kind, passes: passes, parameters: parameters, batch: batch,
                                            regularizer: regularizer, reducer: reducer)
        }
    }

    /// The cached curvature memory when it fits and no live operator holds it; new otherwise.
    private func reusableScratch(kind: CurvatureKind, rows: Int) -> CurvatureScratch<Scalar> {
        // False for nil as well as for a scratch a live operator still holds.
        if isKnownUniquelyReferenced(&curvatureScratch), let scratch = curvatureScratch,
           scratch.kind == kind, scratch.rows == rows {
            return scratch
        }
        curvatureScratch = nil   // frees the old memory first, when no operator holds it
        // Square buffers for a full-data chunk, so the full-data passes can borrow the scratch;
        // a scratch that can serve them makes their own workspace redundant, so it goes first
        // (else the first HF iteration would hold both).
        let chunk = fullDataChunk
        if rows >= chunk { ownWorkspace = nil }
        let scratch = CurvatureScratch<Scalar>(kind: kind, architecture: architecture, rows: rows,
                                               squaresRows: rows >= chunk ? chunk : 0, gathersTargets: !targetsAreInputs)
        curvatureScratch = scratch
        return scratch
    }

    /// Loss and error metrics of `parameters` on the training set (all shards).
    public func trainingMetrics(at parameters: Vector<Scalar>) throws -> NetworkMetrics {
        try NeuralNetwork(architecture: architecture, parameters: parameters)
            .metrics(inputs: inputs, targets: targets, chunkSize: chunkSize, reducer: reducer)
    }
}
