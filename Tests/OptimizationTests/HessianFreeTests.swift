import XCTest
import Foundation
import LinearAlgebra
@testable import Optimization

final class HessianFreeTests: XCTestCase {
    // MARK: Pure rules

    func testDampingRules() {
        var c = HessianFreeConfiguration()
        XCTAssertEqual(updatedLambda(10, reductionRatio: 0.1, configuration: c), 15)
        XCTAssertEqual(updatedLambda(10, reductionRatio: .nan, configuration: c), 15)
        XCTAssertEqual(updatedLambda(10, reductionRatio: -.infinity, configuration: c), 15)
        XCTAssertEqual(updatedLambda(10, reductionRatio: 0.25, configuration: c), 10)   // not < 1/4
        XCTAssertEqual(updatedLambda(10, reductionRatio: 0.5, configuration: c), 10)
        XCTAssertEqual(updatedLambda(10, reductionRatio: 0.75, configuration: c), 10)   // not > 3/4
        XCTAssertEqual(updatedLambda(9, reductionRatio: 0.9, configuration: c), 6)
        XCTAssertEqual(updatedLambda(9, reductionRatio: .infinity, configuration: c), 6)
        c.lambdaFloor = 8
        XCTAssertEqual(updatedLambda(9, reductionRatio: 0.9, configuration: c), 8)
        c.adaptiveDamping = false
        XCTAssertEqual(updatedLambda(9, reductionRatio: 0.1, configuration: c), 9)
    }

    func testBacktrackingChoosesTheRightIterate() {
        // Objective at stored iterates 0...4: walking back from 4.0: 2.5 (better), 2 (better),
        // 3 (worse) -> stop at index 2, after evaluating 4 values.
        let values: [Double] = [5, 3, 2, 2.5, 4]
        let b = backtrackCGIterates(count: values.count) { values[$0] }
        XCTAssertEqual(b.index, 2); XCTAssertEqual(b.value, 2); XCTAssertEqual(b.evaluations, 4)
        // Improving all the way to the end: keep the last; 2 evaluations.
        let c = backtrackCGIterates(count: 3) { [5.0, 4, 3][$0] }
        XCTAssertEqual(c.index, 2); XCTAssertEqual(c.evaluations, 2)
        // A tie keeps walking back (Martens: stop only on a strict improvement of the later one).
        XCTAssertEqual(backtrackCGIterates(count: 3) { [1.0, 2, 2][$0] }.index, 0)
        // Non-finite counts as +infinity: a NaN last iterate is abandoned, a NaN earlier one stops the walk.
        XCTAssertEqual(backtrackCGIterates(count: 3) { [3.0, 2, .nan][$0] }.index, 1)
        XCTAssertEqual(backtrackCGIterates(count: 3) { [.nan, 2, 2.5][$0] }.index, 1)
        XCTAssertEqual(backtrackCGIterates(count: 1) { _ in 7 }.index, 0)
    }

    func testConfigurationIsCodableAndValidated() throws {
        var c = HessianFreeConfiguration()
        c.curvatureBatches = .growing(initialSize: 10, finalSize: 100, iterations: 5)
        c.reductionRatioModel = .damped
        let data = try JSONEncoder().encode(c)
        XCTAssertEqual(try JSONDecoder().decode(HessianFreeConfiguration.self, from: data), c)
        c.warmStartDecay = 1.5
        XCTAssertThrowsError(try HessianFreeOptimizer<Double>(configuration: c)) { e in
            guard case HessianFreeError.invalidConfiguration(let m) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("warmStartDecay"))
        }
        XCTAssertEqual(CurvatureBatchSchedule.growing(initialSize: 10, finalSize: 1000, iterations: 3)
            .batchSize(atIteration: 2, caseCount: 5000), 100)
        XCTAssertEqual(CurvatureBatchSchedule.chunks(count: 4).batchSize(atIteration: 9, caseCount: 20000), 5000)
        XCTAssertEqual(CurvatureBatchSchedule.fixed(size: 50).batchSize(atIteration: 1, caseCount: 20), 20)
    }

    // MARK: Pathological curvature

    /// The configuration for problems without data (one case): full-data curvature, no
    /// squared-gradient preconditioner (g*g of one case is not a curvature estimate).
    func noDataConfiguration(initialLambda: Double = 1) -> HessianFreeConfiguration {
        var c = HessianFreeConfiguration()
        c.curvatureBatches = .fullData
        c.preconditioner = false
        c.initialLambda = initialLambda
        return c
    }

    func testSolvesIllConditionedQuadraticWhereGradientDescentCannot() throws {
        let n = 20
        let q = QuadraticProblem<Double>.random(dimension: n, conditionNumber: 1e6, seed: 31)
        let star = choleskySolve(q.matrix, q.linearTerm.elements)
        let fStar = q.value(at: Vector(star), cases: .all)
        let start = Vector<Double>(zeros: n)
        let gap0 = q.value(at: start, cases: .all) - fStar
        // Suboptimality HF must reach: 1e-10 of the initial gap.
        let target = fStar + 1e-10 * gap0
        let optimizer = try HessianFreeOptimizer<Double>(configuration: noDataConfiguration(initialLambda: 1e-3))
        let hf = try optimizer.run(q, from: try optimizer.initialState(parameters: start, for: q),
                                   stopping: StoppingRules(maximumIterations: 10, targetObjective: target))
        XCTAssertEqual(hf.stopReason, .targetObjective)
        XCTAssertLessThanOrEqual(hf.records.count, 6, "HF needs only a handful of iterations")

        // Gradient descent, best fixed step of a grid around 2/L (L = 1e6; larger steps diverge),
        // with 1000 times HF's gradient evaluations: it still has most of the initial gap along
        // the low-curvature directions, where each step shrinks the error by at most 1 - 2e-6.
        let budget = 1000 * hf.state.gradientEvaluations
        let gd = try GradientDescent.bestFixedStep(q, from: start, stepSizes: [2e-7, 5e-7, 1e-6, 1.5e-6, 1.9e-6, 2.1e-6],
                                                   maximumGradientEvaluations: budget)
        XCTAssertNotEqual(gd.stop, .diverged)
        XCTAssertGreaterThan(gd.finalObjective - fStar, 1e-2 * gap0,
                             "gradient descent would need orders of magnitude more evaluations")
    }

    func testRosenbrockConverges() throws {
        for (n, maxIterations) in [(2, 100), (10, 300)] {
            let p = RosenbrockProblem<Double>(dimension: n)
            let optimizer = try HessianFreeOptimizer<Double>(configuration: noDataConfiguration())
            let r = try optimizer.run(p, from: try optimizer.initialState(parameters: p.standardStart, for: p),
                                      stopping: StoppingRules(maximumIterations: maxIterations, targetObjective: 1e-10))
            XCTAssertEqual(r.stopReason, .targetObjective, "N = \(n)")
            XCTAssertLessThan(r.finalObjective, 1e-10)
            for x in r.state.parameters.elements { XCTAssertEqual(x, 1, accuracy: 1e-4) }
        }
    }

    // MARK: Robustness

    func testNonFiniteStepIsNeverApplied() throws {
        // Minimizer far outside a ball around the start where the objective is NaN: the full
        // step leaves the ball.
        let q = QuadraticProblem<Double>(matrix: Matrix(rows: 2, columns: 2, elements: [1, 0, 0, 1]), linearTerm: Vector([10, 0]))
        let p = NaNOutsideBall(inner: q, center: [0, 0], radius: 1)
        var c = noDataConfiguration(initialLambda: 1e-6)
        c.backtracking = false
        c.lineSearch = false
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        let s0 = try optimizer.initialState(parameters: Vector([0, 0]), for: p)
        let (s1, r1) = try optimizer.step(s0, on: p)
        XCTAssertFalse(r1.stepAccepted)
        XCTAssertEqual(r1.lineSearchRate, 0)
        XCTAssertEqual(r1.reductionRatio, -.infinity)
        XCTAssertEqual(s1.parameters, s0.parameters)
        XCTAssertEqual(s1.lambda, 1.5e-6, accuracy: 1e-18)
        XCTAssertEqual(r1.objectiveAfter, r1.objective)

        // With the line search, the accepted point is finite and satisfies Armijo.
        var withSearch = c
        withSearch.lineSearch = true
        let o2 = try HessianFreeOptimizer<Double>(configuration: withSearch)
        let (s2, r2) = try o2.step(try o2.initialState(parameters: Vector([0, 0]), for: p), on: p)
        XCTAssertTrue(r2.stepAccepted)
        XCTAssertLessThan(r2.lineSearchRate, 1)
        XCTAssertTrue(r2.objectiveAfter.isFinite)
        XCTAssertLessThan(r2.objectiveAfter, r2.objective)
        XCTAssertFalse(p.outside(s2.parameters))
    }

    func testNonFiniteGradientStopsWithTheIterationNamed() throws {
        let q = QuadraticProblem<Double>(matrix: Matrix(rows: 2, columns: 2, elements: [1, 0, 0, 1]), linearTerm: Vector([1, 0]))
        let p = NaNOutsideBall(inner: q, center: [0, 0], radius: 100)
        let optimizer = try HessianFreeOptimizer<Double>(configuration: noDataConfiguration())
        var s = try optimizer.initialState(parameters: Vector([0, 0]), for: p)
        s = try optimizer.step(s, on: p).state
        s = try optimizer.step(s, on: p).state
        p.nanGradient = true
        s.cachedEvaluation = nil
        XCTAssertThrowsError(try optimizer.step(s, on: p)) { e in
            XCTAssertEqual(e as? HessianFreeError, .nonFiniteGradient(iteration: 3))
            XCTAssertTrue("\(e)".contains("iteration 3"))
        }
    }

    /// The optimizer is generic over the scalar: single precision (Martens' code runs in single)
    /// gets a logistic regression to within 1e-4 of the Double optimum.
    func testSinglePrecision() throws {
        let d = LogisticRegressionProblem<Double>.synthetic(cases: 300, features: 8, weightCost: 1e-3, seed: 71)
        let f = LogisticRegressionProblem<Float>(inputs: Matrix(rows: 300, columns: 8, elements: d.inputs.storage.map(Float.init)),
                                                 targets: d.targets.map(Float.init), weightCost: 1e-3)
        var c = HessianFreeConfiguration()
        c.initialLambda = 1; c.weightCost = 1e-3
        let od = try HessianFreeOptimizer<Double>(configuration: c)
        let rd = try od.run(d, from: try od.initialState(parameters: Vector(zeros: 8), for: d), stopping: StoppingRules(maximumIterations: 40))
        let of = try HessianFreeOptimizer<Float>(configuration: c)
        let rf = try of.run(f, from: try of.initialState(parameters: Vector(zeros: 8), for: f), stopping: StoppingRules(maximumIterations: 40))
        XCTAssertEqual(rf.finalObjective, rd.finalObjective, accuracy: 1e-4)
    }

    // MARK: Determinism, resume, run driver

    func logistic() -> LogisticRegressionProblem<Double> {
        LogisticRegressionProblem<Double>.synthetic(cases: 400, features: 12, scaleSpread: 2, weightCost: 1e-3, seed: 41)
    }

    func testDeterministicAndResumable() throws {
        let p = logistic()
        var c = HessianFreeConfiguration()
        c.weightCost = p.weightCost
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        let start = Vector<Double>(zeros: p.parameterCount)
        let s0 = try optimizer.initialState(parameters: start, for: p)
        let a = try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 8))
        let b = try HessianFreeOptimizer<Double>(configuration: c).run(p, from: s0, stopping: StoppingRules(maximumIterations: 8))
        XCTAssertEqual(a.records.count, 8)
        XCTAssertEqual(a.records.map(\.withoutTimings), b.records.map(\.withoutTimings))
        XCTAssertEqual(a.state, b.state)

        // Checkpoint after 4 iterations through JSON, resume, and land on the same trajectory.
        let half = try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 4))
        let json = try JSONEncoder().encode(half.state)
        let restored = try JSONDecoder().decode(HessianFreeState<Double>.self, from: json)
        XCTAssertEqual(restored, half.state)
        let rest = try optimizer.run(p, from: restored, stopping: StoppingRules(maximumIterations: 8))
        func trajectory(_ r: HessianFreeRecord) -> [Double] {
            [r.objective, r.objectiveAfter, r.lambda, r.reductionRatio, Double(r.conjugateGradientIterations),
             Double(r.chosenIterate), r.lineSearchRate]
        }
        XCTAssertEqual((half.records + rest.records).map(trajectory), a.records.map(trajectory))
        XCTAssertEqual(rest.state.parameters, a.state.parameters)
        // The resumed state recomputes the evaluation it did not store: exactly one more.
        XCTAssertEqual(rest.state.gradientEvaluations, a.state.gradientEvaluations + 1)
    }

    func testRunStoppingRulesAndObserver() throws {
        let p = logistic()
        let optimizer = try HessianFreeOptimizer<Double>(configuration: HessianFreeConfiguration())
        let s0 = try optimizer.initialState(parameters: Vector(zeros: p.parameterCount), for: p)
        var seen: [Int] = []
        let stopped = try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 50)) { record, state in
            seen.append(record.iteration)
            XCTAssertEqual(record.iteration, state.iteration)
            return record.iteration == 3 ? .stop : .proceed
        }
        XCTAssertEqual(stopped.stopReason, .observer)
        XCTAssertEqual(seen, [1, 2, 3])
        XCTAssertEqual(try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 2)).stopReason, .maximumIterations)
        let w = try optimizer.run(p, from: s0, stopping: StoppingRules(wallClockSeconds: 0))
        XCTAssertEqual(w.stopReason, .wallClockLimit); XCTAssertTrue(w.records.isEmpty)
        let f0 = p.value(at: s0.parameters, cases: .all)
        let t = try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 50, targetObjective: 0.9 * f0))
        XCTAssertEqual(t.stopReason, .targetObjective); XCTAssertLessThanOrEqual(t.finalObjective, 0.9 * f0)
        let g = try optimizer.run(p, from: s0, stopping: StoppingRules(maximumIterations: 200, gradientTolerance: 1e-5))
        XCTAssertEqual(g.stopReason, .gradientTolerance); XCTAssertLessThanOrEqual(g.finalGradientNorm, 1e-5)
        // Records are consistent with the counts.
        for r in g.records {
            XCTAssertGreaterThanOrEqual(r.chosenIterate, 0)
            XCTAssertLessThanOrEqual(r.chosenIterate, r.conjugateGradientIterations)
            XCTAssertEqual(r.curvatureBatchSize, 100)   // 4 chunks of 400
        }
        XCTAssertEqual(g.records.last!.totalConjugateGradientIterations, g.records.map(\.conjugateGradientIterations).reduce(0, +))
    }
}
