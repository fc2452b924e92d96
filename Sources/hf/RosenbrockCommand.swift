import ArgumentParser
import Foundation
import LinearAlgebra
import Optimization

/// `hf rosenbrock`: pathological curvature shown on the chained Rosenbrock function (paper
/// sections 2 and 2.1). HF and gradient descent start from (-1.2, 1, -1.2, 1, ...); gradient
/// descent gets the best fixed step of a small grid and the same number of gradient evaluations
/// as HF used (and, for a fairer comparison, a second run with as many gradients as HF used
/// gradients, curvature products and objective evaluations together).
struct RosenbrockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rosenbrock",
        abstract: "Hessian-free optimization against gradient descent on the N-dimensional Rosenbrock function.")

    @Option(name: .long, help: "Number of dimensions N (>= 2).")
    var dimension: Int = 2

    @Option(name: .long, help: "Most HF iterations.")
    var maxIterations: Int = 200

    @Option(name: .long, help: "Curvature matrix: gauss-newton, hessian or finite-difference.")
    var curvature: String = "gauss-newton"

    @Option(name: .long, help: "Initial damping lambda (Martens' code: 45, scaled for per-case-averaged data curvature).")
    var initialLambda: Double = 1

    @Option(name: .long, help: "CG warm-start decay (0: cold starts; Martens' code: 0.95).")
    var warmStartDecay: Double = 0.95

    @Flag(name: .long, help: "Use the squared-gradient preconditioner (off by default here: with one case it is g*g).")
    var preconditioner = false

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    /// HF stops once f falls to this (the target is f < 1e-10).
    static let targetObjective = 1e-12
    /// The gradient-descent step grid (the largest stable fixed step at the standard start is
    /// about 1e-3; larger ones diverge).
    static let stepSizes: [Double] = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3]

    func validate() throws {
        guard dimension >= 2 else { throw ValidationError("--dimension must be at least 2") }
        guard initialLambda > 0 && initialLambda.isFinite else {
            throw ValidationError("--initial-lambda must be > 0 (a lambda of 0 can never grow again), got \(initialLambda)")
        }
        guard warmStartDecay >= 0 && warmStartDecay <= 1 else { throw ValidationError("--warm-start-decay must lie in [0, 1]") }
        guard maxIterations >= 1 else { throw ValidationError("--max-iterations must be at least 1") }
        guard let kind = CurvatureKind(rawValue: curvature), kind != .fisher else {
            throw ValidationError("--curvature must be gauss-newton, hessian or finite-difference")
        }
    }

    /// The HF settings for a problem without data (see `run`).
    static func hessianFreeConfiguration(curvature: CurvatureKind, initialLambda: Double = 1, warmStartDecay: Double = 0.95,
                                         preconditioner: Bool = false) -> HessianFreeConfiguration {
        var c = HessianFreeConfiguration()
        c.curvature = curvature
        // One case: every "mini-batch" is the whole problem, and rho uses the exact objective.
        c.curvatureBatches = .fullData
        // lambda = 45 is scaled for curvature averaged over thousands of cases; Rosenbrock's
        // curvature is O(100-1000) at the start, so start lower (the LM rule adapts it anyway).
        c.initialLambda = initialLambda
        c.warmStartDecay = warmStartDecay
        // With one case the "mean per-case squared gradient" is g*g, which is not a curvature
        // estimate: it vanishes at the minimum and would rescale CG by the gradient.
        c.preconditioner = preconditioner
        return c
    }

    func run() throws {
        let kind = CurvatureKind(rawValue: curvature)!
        let problem = RosenbrockProblem<Double>(dimension: dimension)
        let start = problem.standardStart
        let optimizer = try HessianFreeOptimizer<Double>(configuration: Self.hessianFreeConfiguration(
            curvature: kind, initialLambda: initialLambda, warmStartDecay: warmStartDecay, preconditioner: preconditioner))
        let clock = ContinuousClock()
        let t0 = clock.now
        let state = try optimizer.initialState(parameters: start, for: problem)
        let hf = try optimizer.run(problem, from: state,
                                   stopping: StoppingRules(maximumIterations: maxIterations, targetObjective: Self.targetObjective))
        let hfSeconds = Double((clock.now - t0).components.attoseconds) * 1e-18 + Double((clock.now - t0).components.seconds)
        let budget = hf.state.gradientEvaluations
        let gd = try GradientDescent.bestFixedStep(problem, from: start, stepSizes: Self.stepSizes,
                                                   maximumGradientEvaluations: budget, targetObjective: Self.targetObjective)
        // A fairer budget too: every HF product and objective evaluation counted as one gradient.
        let work = hf.state.gradientEvaluations + hf.state.curvatureProducts + hf.state.valueEvaluations
        let gdWork = try GradientDescent.bestFixedStep(problem, from: start, stepSizes: Self.stepSizes,
                                                       maximumGradientEvaluations: work, targetObjective: Self.targetObjective)
        let distance = zip(hf.state.parameters.elements, [Double](repeating: 1, count: dimension))
            .map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()

        if json {
            let out: [String: Any] = [
                "dimension": dimension,
                "curvature": kind.rawValue,
                "initial_lambda": initialLambda,
                "warm_start_decay": warmStartDecay,
                "preconditioner": preconditioner,
                "hf": [
                    "iterations": hf.state.iteration,
                    "final_value": hf.finalObjective,
                    "final_gradient_norm": hf.finalGradientNorm,
                    "distance_to_minimum": distance,
                    "gradient_evaluations": hf.state.gradientEvaluations,
                    "value_evaluations": hf.state.valueEvaluations,
                    "curvature_products": hf.state.curvatureProducts,
                    "cg_iterations": hf.state.conjugateGradientIterations,
                    "stop_reason": hf.stopReason.rawValue,
                    "seconds": hfSeconds,
                ] as [String: Any],
                "gradient_descent": [
                    "iterations": gd.iterations,
                    "final_value": gd.finalObjective,
                    "final_gradient_norm": gd.finalGradientNorm,
                    "gradient_evaluations": gd.gradientEvaluations,
                    "curvature_products": 0,
                    "step_size": gd.stepSize,
                    "stop_reason": gd.stop.rawValue,
                ] as [String: Any],
                "gradient_descent_equal_work": [
                    "iterations": gdWork.iterations,
                    "final_value": gdWork.finalObjective,
                    "gradient_evaluations": gdWork.gradientEvaluations,
                    "step_size": gdWork.stepSize,
                    "stop_reason": gdWork.stop.rawValue,
                ] as [String: Any],
            ]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("Rosenbrock, N = \(dimension), start (-1.2, 1, ...), curvature \(kind.rawValue)")
            print(pad("method", 18) + pad("iterations", 12) + pad("gradients", 11) + pad("curv. prod.", 13) + "final value")
            print(pad("hessian-free", 18) + pad("\(hf.state.iteration)", 12) + pad("\(hf.state.gradientEvaluations)", 11)
                  + pad("\(hf.state.curvatureProducts)", 13) + String(format: "%.3e", hf.finalObjective))
            print(pad("gradient descent", 18) + pad("\(gd.iterations)", 12) + pad("\(gd.gradientEvaluations)", 11)
                  + pad("0", 13) + String(format: "%.3e", gd.finalObjective)
                  + "  (step \(gd.stepSize), best of \(Self.stepSizes.count))")
            print(pad("gd, equal work", 18) + pad("\(gdWork.iterations)", 12) + pad("\(gdWork.gradientEvaluations)", 11)
                  + pad("0", 13) + String(format: "%.3e", gdWork.finalObjective)
                  + "  (budget = HF gradients + products + objective evaluations)")
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
