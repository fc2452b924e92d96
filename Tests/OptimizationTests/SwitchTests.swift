import XCTest
import LinearAlgebra
@testable import Optimization

/// Each section 4 device, switched alone, moves a small problem in the direction the paper
/// (or Martens' code) says. Problems: badly scaled least squares and logistic regression with
/// 2000 cases and 30 features (column scales over 2-3 decades), and Rosenbrock.
final class SwitchTests: XCTestCase {
    let leastSquares = LinearLeastSquaresProblem<Double>.synthetic(cases: 2000, features: 30, noise: 0.1, scaleSpread: 3,
                                                                   weightCost: 0, seed: 51)
    let logistic = LogisticRegressionProblem<Double>.synthetic(cases: 2000, features: 30, scaleSpread: 2, weightCost: 1e-4, seed: 52)

    func run<O: HFObjective>(_ p: O, iterations: Int, _ edit: (inout HessianFreeConfiguration) -> Void) throws
    -> HessianFreeRunResult<Double> where O.Scalar == Double {
        var c = HessianFreeConfiguration()
        c.conjugateGradient.maximumIterations = 10
        edit(&c)
        let o = try HessianFreeOptimizer<Double>(configuration: c)
        return try o.run(p, from: try o.initialState(parameters: Vector(zeros: p.parameterCount), for: p),
                         stopping: StoppingRules(maximumIterations: iterations))
    }

    /// Section 4.7: the diagonal preconditioner speeds CG up on badly scaled coordinates, so
    /// with the same CG budget HF gets further.
    func testPreconditionerHelpsOnBadlyScaledProblems() throws {
        let on = try run(leastSquares, iterations: 6) { $0.initialLambda = 1e-3 }
        let off = try run(leastSquares, iterations: 6) { $0.initialLambda = 1e-3; $0.preconditioner = false }
        XCTAssertLessThan(on.finalObjective, 0.5 * off.finalObjective)
        let lOn = try run(logistic, iterations: 6) { $0.initialLambda = 1e-3; $0.weightCost = 1e-4 }
        let lOff = try run(logistic, iterations: 6) { $0.initialLambda = 1e-3; $0.weightCost = 1e-4; $0.preconditioner = false }
        XCTAssertLessThan(lOn.finalObjective, lOff.finalObjective)
    }

    /// Section 4.1: the Levenberg-Marquardt rule lowers lambda while the model is trusted, so HF
    /// goes faster than with lambda held at its initial value.
    func testAdaptiveDampingBeatsFixedLambda() throws {
        let on = try run(leastSquares, iterations: 6) { _ in }
        let off = try run(leastSquares, iterations: 6) { $0.adaptiveDamping = false }
        XCTAssertLessThan(on.finalObjective, off.finalObjective)
        XCTAssertLessThan(on.state.lambda, 45)
        XCTAssertEqual(off.records.map(\.lambda), [Double](repeating: 45, count: 6))
        // The floor holds.
        let floored = try run(leastSquares, iterations: 8) { $0.lambdaFloor = 20 }
        XCTAssertTrue(floored.records.allSatisfy { $0.lambdaAfter >= 20 })
        XCTAssertEqual(floored.state.lambda, 20)
    }

    /// A reckless setting (10-case curvature batches for 30 parameters, lambda 1e-6, no damping
    /// adjustment) makes wild steps. Section 4.6 backtracking keeps an earlier, better iterate;
    /// the line search never lets the objective rise.
    func testBacktrackingAndLineSearchGuardAgainstBadSteps() throws {
        func reckless(_ c: inout HessianFreeConfiguration) {
            c.curvatureBatches = .fixed(size: 10); c.initialLambda = 1e-6; c.adaptiveDamping = false
            c.conjugateGradient.maximumIterations = 250
        }
        let withBacktracking = try run(leastSquares, iterations: 1) { reckless(&$0); $0.lineSearch = false }
        let without = try run(leastSquares, iterations: 1) { reckless(&$0); $0.lineSearch = false; $0.backtracking = false }
        XCTAssertLessThan(withBacktracking.records[0].chosenIterate, withBacktracking.records[0].conjugateGradientIterations)
        XCTAssertLessThan(withBacktracking.finalObjective, without.finalObjective)

        let searched = try run(logistic, iterations: 6) { reckless(&$0); $0.weightCost = 1e-4 }
        let unsearched = try run(logistic, iterations: 6) { reckless(&$0); $0.weightCost = 1e-4; $0.lineSearch = false }
        for r in searched.records { XCTAssertLessThanOrEqual(r.objectiveAfter, r.objective) }
        XCTAssertTrue(unsearched.records.contains { $0.objectiveAfter > $0.objective })
        XCTAssertLessThan(searched.finalObjective, unsearched.finalObjective)
    }

    /// Section 4.3: curvature from more cases gives better steps; section 6: the empirical
    /// Fisher is a poor substitute for Gauss-Newton.
    func testCurvatureBatchSizeAndMatrix() throws {
        let full = try run(leastSquares, iterations: 6) { $0.curvatureBatches = .fullData }
        let small = try run(leastSquares, iterations: 6) { $0.curvatureBatches = .fixed(size: 20) }
        XCTAssertLessThan(full.finalObjective, small.finalObjective)
        XCTAssertTrue(full.records.allSatisfy { $0.curvatureBatchSize == 2000 })
        let fisher = try run(leastSquares, iterations: 6) { $0.curvature = .fisher }
        let gaussNewton = try run(leastSquares, iterations: 6) { _ in }
        XCTAssertLessThan(gaussNewton.finalObjective, 0.1 * fisher.finalObjective)
        // A growing schedule grows.
        let growing = try run(logistic, iterations: 5) { $0.curvatureBatches = .growing(initialSize: 50, finalSize: 800, iterations: 5) }
        XCTAssertEqual(growing.records.map(\.curvatureBatchSize), [50, 100, 200, 400, 800])
    }

    /// Section 4.1: on an exact quadratic the undamped model predicts the change exactly
    /// (rho = 1); the damped model predicts less reduction, so its rho is larger.
    func testReductionRatioModels() throws {
        let q = QuadraticProblem<Double>.random(dimension: 10, conditionNumber: 100, seed: 61)
        func first(_ model: ReductionRatioModel) throws -> HessianFreeRecord {
            var c = HessianFreeConfiguration()
            c.curvatureBatches = .fullData; c.preconditioner = false; c.initialLambda = 1; c.reductionRatioModel = model
            let o = try HessianFreeOptimizer<Double>(configuration: c)
            return try o.step(try o.initialState(parameters: Vector(zeros: 10), for: q), on: q).record
        }
        // Rounding in f differences of size ~1: 1e-9.
        XCTAssertEqual(try first(.undamped).reductionRatio, 1, accuracy: 1e-9)
        XCTAssertGreaterThan(try first(.damped).reductionRatio, 1 + 1e-6)
        // rho's data is a setting: on the full data instead of the curvature batch, the step is
        // the same (rho only moves lambda) but rho differs.
        let batchRho = try run(logistic, iterations: 1) { $0.initialLambda = 1 }
        let fullRho = try run(logistic, iterations: 1) { $0.initialLambda = 1; $0.reductionRatioData = .fullData }
        XCTAssertEqual(batchRho.state.parameters, fullRho.state.parameters)
        XCTAssertNotEqual(batchRho.records[0].reductionRatio, fullRho.records[0].reductionRatio)
        // Each record also measures its step on the full data: the batch run's full-data rho
        // is the other run's rho, and the two runs' model values agree.
        XCTAssertEqual(batchRho.records[0].fullDataReductionRatio, fullRho.records[0].reductionRatio)
        XCTAssertEqual(fullRho.records[0].fullDataReductionRatio, fullRho.records[0].reductionRatio)
        XCTAssertEqual(batchRho.records[0].modelChange, fullRho.records[0].modelChange)
        XCTAssertLessThan(batchRho.records[0].modelChange, 0)
    }

    /// Section 4.5 (and Martens' decay 0.95): warm-starting CG from the previous solution saves
    /// curvature products on Rosenbrock.
    func testWarmStartSavesCurvatureProducts() throws {
        let p = RosenbrockProblem<Double>(dimension: 100)
        func products(_ decay: Double) throws -> (Int, Double) {
            var c = HessianFreeConfiguration()
            c.curvatureBatches = .fullData; c.preconditioner = false; c.initialLambda = 1; c.warmStartDecay = decay
            let o = try HessianFreeOptimizer<Double>(configuration: c)
            let r = try o.run(p, from: try o.initialState(parameters: p.standardStart, for: p),
                              stopping: StoppingRules(maximumIterations: 400, targetObjective: 1e-10))
            return (r.state.curvatureProducts, r.finalObjective)
        }
        let (warm, fWarm) = try products(0.95)
        let (cold, fCold) = try products(0)
        XCTAssertLessThan(fWarm, 1e-10); XCTAssertLessThan(fCold, 1e-10)
        XCTAssertLessThan(warm, cold)
    }
}
