import Foundation
import LinearAlgebra
import NeuralNetworks
import Optimization

/// What one optimizer step reports to the training loop (the metrics it knows; NaN or 0 for
/// the Hessian-free fields a first-order method does not have).
struct OptimizerStep {
    var objective: Double
    var lambda: Double = .nan
    var rho: Double = .nan
    var cgIterations = 0
    var cgChosen = 0
    var gradientEvaluations: Int
    var curvatureProducts = 0
    /// Floating-point work of the step, counted from its passes.
    var flops: Double
    var lineSearchRate: Double?
    var cgStopReason: String?
    var gradientNorm: Double?
    /// Hessian-free timings: gradient passes, CG, backtracking plus line search.
    var timings: HessianFreeTimings?
    /// CG returned a non-finite direction (Hessian-free): it was dropped and lambda raised.
    var nonFiniteDirection = false
    /// Hessian-free: rho's denominator, and rho of the same step on the whole training set.
    var modelChange: Double?
    var fullDataRho: Double?
}

/// The optimizer state a checkpoint stores besides the parameters. Every optimizer keeps its
/// large vectors (HF's previous CG direction, the baselines' moments, directions and pairs;
/// see `CheckpointVectors`) as tensors in `parameters.safetensors`; this JSON part holds the
/// rest.
public struct SavedOptimizerState: Codable, Sendable {
    public var optimizer: OptimizerKind
    public var iteration: Int
    /// Wall-clock seconds of the run so far (pre-training included), over all invocations.
    public var elapsedSeconds: Double
    /// CPU seconds of the run so far, over all invocations (absent in older checkpoints).
    public var cpuSeconds: Double?
    /// Gradient evaluations and cases evaluated so far (the baselines' counts; HF keeps its
    /// own in `hessianFree`).
    public var gradientEvaluations: Int?
    public var casesEvaluated: Int?
    public var hessianFree: SavedHessianFreeState?
    public var sgd: StochasticGradientDescent<Float>.State?
    public var adam: Adam<Float>.State?
    public var ncg: NonlinearConjugateGradient<Float>.State?
    public var lbfgs: LBFGS<Float>.State?
}

/// Hessian-free state without its vectors.
public struct SavedHessianFreeState: Codable, Sendable, Equatable {
    public var lambda: Double
    public var permutation: [Int]
    public var batchPosition: Int
    public var gradientEvaluations: Int
    public var valueEvaluations: Int
    public var curvatureProducts: Int
    public var conjugateGradientIterations: Int
    public var hasPreviousSolution: Bool
}

/// The optimizer behind a training run, as the training loop sees it.
protocol TrainingOptimizer: AnyObject {
    var iteration: Int { get }
    var parameters: Vector<Float> { get }
    /// True when further steps cannot move the parameters.
    var isStalled: Bool { get }
    /// Receives progress inside a step (stage, done, total); nil when nobody listens.
    var progress: ((String, Int, Int) -> Void)? { get set }
    func step() throws -> OptimizerStep
    /// The checkpoint's JSON part, and extra tensors for `parameters.safetensors`.
    func saved(elapsedSeconds: Double) -> SavedOptimizerState
    func extraTensors() -> [SafeTensorPayload]
}

/// A named flat Float tensor for the checkpoint.
struct SafeTensorPayload {
    var name: String
    var values: [Float]
}

/// Forward flops (2mnk per product) of one pass of `architecture` over `cases` cases.
public func forwardFlops(_ architecture: NetworkArchitecture, cases: Int) -> Double {
    architecture.layout.layers.reduce(0) { $0 + 2 * Double(cases) * Double($1.fanIn) * Double($1.fanOut) }
}

/// The arithmetic of one Hessian-free iteration on a network, counted from its passes (2mnk
/// per gemm): `gradientEvaluations` full-data gradients over `caseCount` cases, `curvatureProducts`
/// curvature products on the `batchSize`-case batch (Gauss-Newton cost), `valueEvaluations`
/// objective evaluations (one on the batch for rho, the rest on the full data for backtracking
/// and the line search), and the forward pass that linearizes the batch. The counts are the
/// iteration's own (differences of `HessianFreeState`'s counters across the step). With the
/// preconditioner, each gradient pass also computes the squared-gradient diagonal, one more
/// product per layer (`squaredGradient`).
public func hessianFreeIterationFlops(_ architecture: NetworkArchitecture, caseCount: Int, batchSize: Int,
                                      gradientEvaluations: Int, curvatureProducts: Int, valueEvaluations: Int,
                                      squaredGradient: Bool) -> Double {
    var flops = Double(gradientEvaluations) * architecture.gradientFlops(cases: caseCount, squaredGradient: squaredGradient)
    flops += Double(curvatureProducts) * architecture.gaussNewtonProductFlops(cases: batchSize)
    flops += Double(max(valueEvaluations - 1, 0)) * forwardFlops(architecture, cases: caseCount)
    flops += forwardFlops(architecture, cases: batchSize) * (valueEvaluations > 0 ? 2 : 1)
    return flops
}

/// Hessian-free optimization (the subject of the paper).
final class HessianFreeTrainer: TrainingOptimizer {
    static let previousDirectionTensor = "optimizer.previous_cg_direction"
    let objective: NeuralNetworkObjective<Float>
    let optimizer: HessianFreeOptimizer<Float>
    private(set) var state: HessianFreeState<Float>

    init(objective: NeuralNetworkObjective<Float>, configuration: HessianFreeConfiguration, parameters: Vector<Float>,
         saved: SavedHessianFreeState?, iteration: Int, previousDirection: Vector<Float>?) throws {
        self.objective = objective
        optimizer = try HessianFreeOptimizer<Float>(configuration: configuration)
        var s = try optimizer.initialState(parameters: parameters, for: objective)
        if let saved {
            guard saved.permutation.count == objective.caseCount else {
                throw ExperimentError.unreadableRun("checkpoint has \(saved.permutation.count) cases, the data set has \(objective.caseCount)")
            }
            s.lambda = saved.lambda; s.permutation = saved.permutation; s.batchPosition = saved.batchPosition
            s.iteration = iteration; s.gradientEvaluations = saved.gradientEvaluations
            s.valueEvaluations = saved.valueEvaluations; s.curvatureProducts = saved.curvatureProducts
            s.conjugateGradientIterations = saved.conjugateGradientIterations
            if saved.hasPreviousSolution {
                guard let p = previousDirection, p.count == parameters.count else {
                    throw ExperimentError.unreadableRun("checkpoint lacks the tensor \(Self.previousDirectionTensor)")
                }
                s.previousSolution = p
            }
        }
        state = s
    }

    var iteration: Int { state.iteration }
    var parameters: Vector<Float> { state.parameters }
    var isStalled: Bool { false }
    var progress: ((String, Int, Int) -> Void)? {
        didSet {
            if let report = progress {
                optimizer.progress = { p in
                    switch p {
                    case .conjugateGradient(let done, let total): report("CG", done, total)
                    }
                }
            } else {
                optimizer.progress = nil
            }
        }
    }

    func step() throws -> OptimizerStep {
        let before = (gradients: state.gradientEvaluations, products: state.curvatureProducts, values: state.valueEvaluations)
        // The step gets the only reference to the cached gradient and g^2 (the trainer's copy
        // lets go of them; a failed step only costs their recomputation), so it can free them
        // before its closing full-data pass allocates the next ones.
        let input = state
        state.forgetCachedEvaluation()
        let (next, record) = try optimizer.step(consume input, on: objective)
        state = next
        let flops = hessianFreeIterationFlops(
            objective.architecture, caseCount: objective.caseCount, batchSize: record.curvatureBatchSize,
            gradientEvaluations: state.gradientEvaluations - before.gradients,
            curvatureProducts: state.curvatureProducts - before.products,
            valueEvaluations: state.valueEvaluations - before.values,
            squaredGradient: optimizer.configuration.preconditioner)
        return OptimizerStep(objective: record.objectiveAfter, lambda: record.lambdaAfter, rho: record.reductionRatio,
                             cgIterations: record.conjugateGradientIterations, cgChosen: record.chosenIterate,
                             gradientEvaluations: state.gradientEvaluations, curvatureProducts: state.curvatureProducts,
                             flops: flops, lineSearchRate: record.lineSearchRate,
                             cgStopReason: record.conjugateGradientTermination.rawValue, gradientNorm: record.gradientNormAfter,
                             timings: record.seconds, nonFiniteDirection: record.nonFiniteDirection,
                             modelChange: record.modelChange, fullDataRho: record.fullDataReductionRatio)
    }

    func saved(elapsedSeconds: Double) -> SavedOptimizerState {
        let h = SavedHessianFreeState(lambda: state.lambda, permutation: state.permutation, batchPosition: state.batchPosition,
                                      gradientEvaluations: state.gradientEvaluations, valueEvaluations: state.valueEvaluations,
                                      curvatureProducts: state.curvatureProducts,
                                      conjugateGradientIterations: state.conjugateGradientIterations,
                                      hasPreviousSolution: state.previousSolution != nil)
        return SavedOptimizerState(optimizer: .hf, iteration: state.iteration, elapsedSeconds: elapsedSeconds, hessianFree: h)
    }

    func extraTensors() -> [SafeTensorPayload] {
        state.previousSolution.map { [SafeTensorPayload(name: Self.previousDirectionTensor, values: $0.elements)] } ?? []
    }
}

/// A first-order or quasi-Newton baseline (issue 6) behind the same loop.
final class BaselineTrainer<Optimizer: FirstOrderOptimizer>: TrainingOptimizer
where Optimizer.Scalar == Float, Optimizer.State: CheckpointVectors {
    let objective: NeuralNetworkObjective<Float>
    let optimizer: Optimizer
    private(set) var state: Optimizer.State
    /// The optimizer's cumulative counters after the last step.
    private var gradientEvaluations: Int
    private var casesEvaluated: Int
    let kind: OptimizerKind
    let store: (Optimizer.State, inout SavedOptimizerState) -> Void

    init(kind: OptimizerKind, objective: NeuralNetworkObjective<Float>, optimizer: Optimizer, state: Optimizer.State,
         gradientEvaluations: Int, casesEvaluated: Int, store: @escaping (Optimizer.State, inout SavedOptimizerState) -> Void) {
        self.kind = kind; self.objective = objective; self.optimizer = optimizer; self.state = state; self.store = store
        self.gradientEvaluations = gradientEvaluations; self.casesEvaluated = casesEvaluated
    }

    var iteration: Int { state.iteration }
    var parameters: Vector<Float> { state.parameters }
    var isStalled: Bool { state.stalled }
    /// Baseline steps are short: no progress inside them.
    var progress: ((String, Int, Int) -> Void)?

    func step() throws -> OptimizerStep {
        let (next, record) = try optimizer.step(state, objective: objective)
        state = next
        // The record's counters are cumulative; each case evaluated in this step cost one
        // forward and backward pass of the network.
        let flops = objective.architecture.gradientFlops(cases: record.casesEvaluated - casesEvaluated)
        gradientEvaluations = record.gradientEvaluations
        casesEvaluated = record.casesEvaluated
        return OptimizerStep(objective: record.value, gradientEvaluations: gradientEvaluations, flops: flops,
                             lineSearchRate: record.learningRate, cgStopReason: record.lineSearch.map { "\($0)" },
                             gradientNorm: record.gradientNorm)
    }

    func saved(elapsedSeconds: Double) -> SavedOptimizerState {
        var s = SavedOptimizerState(optimizer: kind, iteration: state.iteration, elapsedSeconds: elapsedSeconds,
                                    gradientEvaluations: gradientEvaluations, casesEvaluated: casesEvaluated)
        store(state.withoutVectors, &s)
        return s
    }

    func extraTensors() -> [SafeTensorPayload] {
        state.checkpointVectors.map { SafeTensorPayload(name: $0.name, values: $0.vector.elements) }
    }
}
