import Foundation
import XCTest
import LinearAlgebra
@testable import Optimization

final class WolfeLineSearchTests: XCTestCase {
    /// On 1-D functions with known shape the search returns a point that satisfies both strong
    /// Wolfe conditions, checked here from the definitions, not through `satisfiesWolfe`.
    func testAcceptedStepsSatisfyStrongWolfeOnOneDimensionalFunctions() throws {
        // phi(a) and phi'(a): a steep quadratic (minimum at 0.01, so interpolation from a
        // long first step), a shallow one (minimum at 50, so extrapolation), and a quartic.
        let functions: [(String, (Double) -> (Double, Double), Double)] = [
            ("steep quadratic", { a in (50 * (a - 0.01) * (a - 0.01), 100 * (a - 0.01)) }, 1),
            ("shallow quadratic", { a in (0.01 * (a - 50) * (a - 50), 0.02 * (a - 50)) }, 1),
            ("quartic", { a in (pow(a - 2, 4) - 3 * a, 4 * pow(a - 2, 3) - 3) }, 0.5),
        ]
        for search in [WolfeLineSearch(), .quasiNewton] {
            for (name, phi, initialStep) in functions {
                let (f0, d0) = phi(0)
                let r = try search.search(value0: f0, slope0: d0, initialStep: initialStep) { a in
                    let (f, d) = phi(a)
                    return LineSearchPoint(value: f, slope: d, payload: a)
                }
                XCTAssertEqual(r.termination, .wolfeSatisfied, name)
                XCTAssertEqual(r.payload, r.step, name)
                let (f, d) = phi(r.step)
                XCTAssertLessThanOrEqual(f, f0 + search.sufficientDecrease * r.step * d0, "\(name): sufficient decrease")
                XCTAssertLessThanOrEqual(abs(d), search.curvature * abs(d0), "\(name): curvature condition")
                XCTAssertLessThanOrEqual(r.evaluations, search.maximumEvaluations)
            }
        }
    }

    /// Non-finite values beyond a point are bisected back (extrapolation) or treated as too far.
    func testNonFiniteTrialValuesAreBisectedBack() throws {
        let phi: (Double) -> (Double, Double) = { a in a > 0.5 ? (.nan, .nan) : ((a - 0.3) * (a - 0.3), 2 * (a - 0.3)) }
        let (f0, d0) = phi(0)
        let r = try WolfeLineSearch().search(value0: f0, slope0: d0, initialStep: 4) { a in
            let (f, d) = phi(a)
            return LineSearchPoint(value: f, slope: d, payload: ())
        }
        XCTAssertEqual(r.termination, .wolfeSatisfied)
        XCTAssertLessThanOrEqual(r.step, 0.5)
    }

    func testAscentDirectionIsRefusedWithoutEvaluating() throws {
        let r = try WolfeLineSearch().search(value0: 1, slope0: 0.5, initialStep: 1) { _ -> LineSearchPoint<Void> in
            XCTFail("must not evaluate"); return LineSearchPoint(value: 0, slope: 0, payload: ())
        }
        XCTAssertEqual(r.termination, .notDescentDirection)
        XCTAssertEqual(r.step, 0)
        XCTAssertNil(r.payload)
    }

    /// A function that only increases along the direction despite a negative reported slope
    /// exhausts the budget and returns step 0.
    func testBudgetExhaustedWithoutDecreaseReturnsZeroStep() throws {
        let search = WolfeLineSearch(maximumEvaluations: 5)
        let r = try search.search(value0: 0, slope0: -1, initialStep: 1) { a in
            LineSearchPoint(value: a, slope: -1, payload: ())
        }
        XCTAssertEqual(r.termination, .evaluationLimitWithoutDecrease)
        XCTAssertEqual(r.step, 0)
        XCTAssertEqual(r.evaluations, 5)
    }
}

final class NonlinearConjugateGradientTests: XCTestCase {
    /// Runs NCG and checks, at every step that reports `.wolfeSatisfied` within one batch,
    /// the strong Wolfe conditions from the definitions on freshly computed f and grad f.
    /// Returns the final state and the number of steps checked.
    func runCheckingWolfe(_ ncg: NonlinearConjugateGradient<Double>, objective: TestObjective, start: [Double],
                          steps: Int) throws -> (NonlinearConjugateGradient<Double>.State, Int, [FirstOrderRecord]) {
        var state = ncg.makeState(parameters: Vector(start), caseCount: objective.caseCount, seed: 7)
        var checked = 0
        var records: [FirstOrderRecord] = []
        for _ in 0..<steps {
            let before = state
            let (after, record) = try ncg.step(state, objective: objective)
            records.append(record)
            // Only steps that continue a batch have the pre-step direction in `before`.
            let sameBatch = before.value != nil && after.batch == before.batch
                && (before.cursor.batchSize == nil || before.lineSearchesOnBatch < ncg.configuration.lineSearchesPerBatch)
            if sameBatch, record.lineSearch == .wolfeSatisfied, let d = before.direction {
                let cases = before.batch!.selection
                let alpha = record.learningRate
                var expected = before.parameters
                expected.add(d, scaledBy: alpha)
                XCTAssertEqual(after.parameters, expected, "accepted point is theta + alpha d")
                let (f0, g0) = objective.compute(before.parameters.elements, cases)
                let (f1, g1) = objective.compute(after.parameters.elements, cases)
                let d0 = zip(g0, d.elements).reduce(0) { $0 + $1.0 * $1.1 }
                let d1 = zip(g1, d.elements).reduce(0) { $0 + $1.0 * $1.1 }
                let ls = ncg.configuration.lineSearch
                XCTAssertLessThan(d0, 0, "descent direction")
                XCTAssertLessThanOrEqual(f1, f0 + ls.sufficientDecrease * alpha * d0, "sufficient decrease at step \(record.iteration)")
                XCTAssertLessThanOrEqual(abs(d1), ls.curvature * abs(d0), "curvature condition at step \(record.iteration)")
                checked += 1
            }
            state = after
            if state.stalled { break }
        }
        return (state, checked, records)
    }

    /// Full-batch NCG on a 10-D quadratic with condition number 100: within 200 line searches
    /// every coordinate is within 1e-6 of x* (linear CG would need 10 exact steps; the
    /// inexact sigma = 0.1 search costs more, 200 leaves a wide margin).
    func testFullBatchConvergesOnQuadraticWithWolfeSteps() throws {
        let q = TestObjective.rotatedQuadratic(dimension: 10, conditionNumber: 100, seed: 3)
        let ncg = NonlinearConjugateGradient<Double>(configuration: .init(casesPerBatch: nil))
        let (state, checked, records) = try runCheckingWolfe(ncg, objective: q, start: Array(repeating: 0, count: 10), steps: 200)
        XCTAssertLessThan(maxDistance(state.parameters.elements, q.minimizer), 1e-6)
        XCTAssertGreaterThan(checked, 5)
        XCTAssertEqual(records.last!.functionEvaluations, q.calls, "evaluation counter matches the objective's")
    }

    /// 2-D Rosenbrock from (-1.2, 1): within 1e-5 of (1, 1) in at most 500 line searches.
    func testFullBatchConvergesOnRosenbrock() throws {
        let r = TestObjective.rosenbrock(dimension: 2)
        let ncg = NonlinearConjugateGradient<Double>(configuration: .init(casesPerBatch: nil))
        let (state, checked, _) = try runCheckingWolfe(ncg, objective: r, start: [-1.2, 1], steps: 500)
        XCTAssertLessThan(maxDistance(state.parameters.elements, r.minimizer), 1e-5)
        XCTAssertGreaterThan(checked, 10)
    }

    /// H&S schedule on consistent least squares (200 cases, batches of 50, 3 line searches
    /// each): every batch shares the minimizer, so 100 epochs-worth of steps reach it to 1e-6.
    func testMiniBatchScheduleConvergesOnLeastSquares() throws {
        let ls = TestObjective.leastSquares(cases: 200, dimension: 8, seed: 5)
        let ncg = NonlinearConjugateGradient<Double>(configuration: .init(casesPerBatch: 50, lineSearchesPerBatch: 3))
        let (state, checked, records) = try runCheckingWolfe(ncg, objective: ls, start: Array(repeating: 0, count: 8), steps: 300)
        XCTAssertLessThan(maxDistance(state.parameters.elements, ls.minimizer), 1e-6)
        XCTAssertGreaterThan(checked, 10)
        XCTAssertEqual(records[0].batchCases, 50)
        XCTAssertEqual(records.last!.casesEvaluated, ls.calls * 50)
    }
}

final class LBFGSTests: XCTestCase {
    /// L-BFGS with memory 10 on the 10-D quadratic: within 1e-8 in 60 iterations, every
    /// step's accepted point satisfying the strong Wolfe conditions (rho 1e-4, sigma 0.9),
    /// checked from the definitions.
    func testConvergesOnQuadraticWithWolfeSteps() throws {
        let q = TestObjective.rotatedQuadratic(dimension: 10, conditionNumber: 100, seed: 3)
        let lbfgs = LBFGS<Double>()
        var state = lbfgs.makeState(parameters: Vector(zeros: 10), caseCount: 1, seed: 0)
        var checked = 0
        for _ in 0..<60 {
            let before = state
            let (after, record) = try lbfgs.step(state, objective: q)
            if record.lineSearch == .wolfeSatisfied {
                var d = after.parameters
                d.add(before.parameters, scaledBy: -1)
                d.scale(by: 1 / record.learningRate)
                let (f0, g0) = q.compute(before.parameters.elements, .all)
                let (f1, g1) = q.compute(after.parameters.elements, .all)
                let d0 = zip(g0, d.elements).reduce(0) { $0 + $1.0 * $1.1 }
                let d1 = zip(g1, d.elements).reduce(0) { $0 + $1.0 * $1.1 }
                let c = lbfgs.configuration.lineSearch
                // Recovering d from the step divides by alpha: allow 1e-9 relative slack.
                XCTAssertLessThanOrEqual(f1, f0 + c.sufficientDecrease * record.learningRate * d0 + 1e-12 * abs(f0))
                XCTAssertLessThanOrEqual(abs(d1), c.curvature * abs(d0) * (1 + 1e-9))
                checked += 1
            }
            state = after
            if state.stalled { break }
        }
        XCTAssertLessThan(maxDistance(state.parameters.elements, q.minimizer), 1e-8)
        XCTAssertGreaterThan(checked, 5)
        XCTAssertLessThanOrEqual(state.steps.count, 10)
    }

    /// 10-D extended Rosenbrock from (-1.2, 1, -1.2, 1, ...): within 1e-6 of the ones vector
    /// in 300 iterations.
    func testConvergesOnExtendedRosenbrock() throws {
        let r = TestObjective.rosenbrock(dimension: 10)
        let lbfgs = LBFGS<Double>()
        let start = (0..<10).map { $0 % 2 == 0 ? -1.2 : 1.0 }
        var state = lbfgs.makeState(parameters: Vector(start), caseCount: 1, seed: 0)
        for _ in 0..<300 where !state.stalled { state = try lbfgs.step(state, objective: r).state }
        XCTAssertLessThan(maxDistance(state.parameters.elements, r.minimizer), 1e-6)
    }

    /// The two-loop recursion with one pair reproduces the BFGS inverse-Hessian update
    /// H = (I - rho s y') gamma I (I - rho y s') + rho s s' applied to g, built explicitly.
    func testTwoLoopRecursionMatchesExplicitInverseHessian() {
        let s = Vector<Double>([0.5, -1, 2]), y = Vector<Double>([1, -0.5, 1.5]), g = Vector<Double>([0.3, 0.7, -0.2])
        let d = LBFGS<Double>.direction(gradient: g, steps: [s], gradientChanges: [y])
        let rho = 1 / s.dot(y), gamma = s.dot(y) / y.squaredNorm
        var h = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 { for j in 0..<3 {
            var v = 0.0
            for k in 0..<3 {
                let left = (i == k ? 1 : 0) - rho * s[i] * y[k]
                let right = (k == j ? 1 : 0) - rho * y[k] * s[j]
                v += left * gamma * right
            }
            h[i][j] = v + rho * s[i] * s[j]
        } }
        for i in 0..<3 {
            let expected = -(0..<3).reduce(0.0) { $0 + h[i][$1] * g[$1] }
            XCTAssertEqual(d[i], expected, accuracy: 1e-14)
        }
    }
}

final class StochasticMethodTests: XCTestCase {
    /// SGD with classical and Nesterov momentum on consistent least squares (200 cases,
    /// batches of 20): |x - x*| < 1e-6 after 3000 updates (300 epochs); the noise vanishes at
    /// x*, so a constant rate converges linearly.
    func testSGDMomentumConvergesOnLeastSquares() throws {
        for kind in MomentumKind.allCases {
            let ls = TestObjective.leastSquares(cases: 200, dimension: 8, seed: 5)
            let sgd = StochasticGradientDescent<Double>(configuration: .init(learningRate: 0.02, momentum: 0.9,
                                                                             momentumKind: kind, batchSize: 20))
            let (state, records) = try runSteps(sgd, from: sgd.makeState(parameters: Vector(zeros: 8), caseCount: 200, seed: 1),
                                           on: ls, steps: 3000)
            XCTAssertLessThan(maxDistance(state.parameters.elements, ls.minimizer), 1e-6, "\(kind)")
            XCTAssertEqual(records.last!.epoch, 300, accuracy: 1e-12)
        }
    }

    /// Full-batch SGD (the quadratic has one case) on the kappa = 100 quadratic: rate 0.01
    /// (lambda_max = 100 gives lr * lambda_max = 1 < 2(1 + mu)), 2000 steps reach 1e-6.
    func testSGDConvergesOnQuadratic() throws {
        for kind in [MomentumKind.classical, .nesterov] {
            let q = TestObjective.rotatedQuadratic(dimension: 10, conditionNumber: 100, seed: 3)
            let sgd = StochasticGradientDescent<Double>(configuration: .init(learningRate: 0.01, momentum: 0.9, momentumKind: kind))
            let (state, _) = try runSteps(sgd, from: sgd.makeState(parameters: Vector(zeros: 10), caseCount: 1, seed: 1), on: q, steps: 2000)
            XCTAssertLessThan(maxDistance(state.parameters.elements, q.minimizer), 1e-6, "\(kind)")
        }
    }

    /// 2-D Rosenbrock from (-1.2, 1), Nesterov momentum 0.9, rate 1e-3 (stable for the
    /// curvature ~1000 at the minimum): within 1e-3 of (1, 1) after 20000 steps.
    func testSGDConvergesOnRosenbrock() throws {
        let r = TestObjective.rosenbrock(dimension: 2)
        let sgd = StochasticGradientDescent<Double>(configuration: .init(learningRate: 1e-3, momentum: 0.9, momentumKind: .nesterov))
        let (state, _) = try runSteps(sgd, from: sgd.makeState(parameters: Vector([-1.2, 1]), caseCount: 1, seed: 1), on: r, steps: 20000)
        XCTAssertLessThan(maxDistance(state.parameters.elements, r.minimizer), 1e-3)
    }

    /// Adam with Kingma & Ba's betas on the quadratic, Rosenbrock and least squares. Adam's
    /// per-coordinate steps stay near alpha, so it needs a decaying rate to settle: 1/t decay.
    /// Tolerances: 1e-4 on the quadratic and least squares, 1e-3 on Rosenbrock.
    func testAdamConverges() throws {
        let q = TestObjective.rotatedQuadratic(dimension: 10, conditionNumber: 100, seed: 3)
        let adamQ = Adam<Double>(configuration: .init(learningRate: 0.05, schedule: .inverseTime(decay: 1e-3)))
        let (sq, _) = try runSteps(adamQ, from: adamQ.makeState(parameters: Vector(zeros: 10), caseCount: 1, seed: 1), on: q, steps: 5000)
        XCTAssertLessThan(maxDistance(sq.parameters.elements, q.minimizer), 1e-4, "quadratic")

        let r = TestObjective.rosenbrock(dimension: 2)
        let adamR = Adam<Double>(configuration: .init(learningRate: 0.02, schedule: .inverseTime(decay: 1e-4)))
        let (sr, _) = try runSteps(adamR, from: adamR.makeState(parameters: Vector([-1.2, 1]), caseCount: 1, seed: 1), on: r, steps: 20000)
        XCTAssertLessThan(maxDistance(sr.parameters.elements, r.minimizer), 1e-3, "rosenbrock")

        let ls = TestObjective.leastSquares(cases: 200, dimension: 8, seed: 5)
        let adamL = Adam<Double>(configuration: .init(learningRate: 0.01, schedule: .inverseTime(decay: 1e-3), batchSize: 20))
        let (sl, _) = try runSteps(adamL, from: adamL.makeState(parameters: Vector(zeros: 8), caseCount: 200, seed: 1), on: ls, steps: 5000)
        XCTAssertLessThan(maxDistance(sl.parameters.elements, ls.minimizer), 1e-4, "least squares")
    }

    func testScheduleRates() {
        XCTAssertEqual(LearningRateSchedule.constant.rate(base: 0.1, step: 1000), 0.1)
        XCTAssertEqual(LearningRateSchedule.stepDecay(factor: 0.5, every: 10).rate(base: 1, step: 9), 1)
        XCTAssertEqual(LearningRateSchedule.stepDecay(factor: 0.5, every: 10).rate(base: 1, step: 25), 0.25)
        XCTAssertEqual(LearningRateSchedule.inverseTime(decay: 0.5).rate(base: 1, step: 4), 1.0 / 3.0)
    }

    /// Each pass visits every case exactly once; the remainder forms a short last batch.
    func testMiniBatchCursorCoversEveryCaseOncePerPass() {
        var cursor = MiniBatchCursor(caseCount: 23, batchSize: 5, seed: 9)
        for pass in 1...3 {
            var seen: [Int] = []
            var sizes: [Int] = []
            for _ in 0..<5 {
                guard case .indices(let i) = cursor.next() else { return XCTFail("expected indices") }
                seen += i; sizes.append(i.count)
            }
            XCTAssertEqual(seen.sorted(), Array(0..<23))
            XCTAssertEqual(sizes, [5, 5, 5, 5, 3])
            XCTAssertEqual(cursor.passes, pass)
        }
        var full = MiniBatchCursor(caseCount: 10, batchSize: 100, seed: 0)
        let selection = full.next()
        XCTAssertEqual(selection, .all)
    }
}

final class BaselineCheckpointTests: XCTestCase {
    /// Steps `first`, round-trips the state through JSON, then steps `second` more from both
    /// the live and the decoded state: the two runs must agree bit for bit.
    func assertResumesBitIdentically<O: FirstOrderOptimizer>(_ optimizer: O, objective: TestObjective, start: [Double],
                                                             first: Int, second: Int,
                                                             file: StaticString = #filePath, line: UInt = #line) throws
    where O.Scalar == Double {
        let initial = optimizer.makeState(parameters: Vector(start), caseCount: objective.caseCount, seed: 11)
        let (middle, _) = try runSteps(optimizer, from: initial, on: objective, steps: first)
        let data = try JSONEncoder().encode(middle)
        let decoded = try JSONDecoder().decode(O.State.self, from: data)
        XCTAssertEqual(decoded, middle, "state round-trips through JSON", file: file, line: line)
        let (live, liveRecords) = try runSteps(optimizer, from: middle, on: objective, steps: second)
        let (resumed, resumedRecords) = try runSteps(optimizer, from: decoded, on: objective, steps: second)
        XCTAssertEqual(live, resumed, "resumed state", file: file, line: line)
        XCTAssertEqual(live.parameters.elements.map(\.bitPattern), resumed.parameters.elements.map(\.bitPattern), file: file, line: line)
        XCTAssertEqual(liveRecords.map(\.value), resumedRecords.map(\.value), file: file, line: line)
        // The configuration is Codable too, for the run record.
        let config = try JSONDecoder().decode(O.Configuration.self, from: JSONEncoder().encode(optimizer.configuration))
        XCTAssertEqual(config, optimizer.configuration, file: file, line: line)
    }

    func testEveryOptimizerResumesBitIdenticallyFromJSON() throws {
        let start = Array(repeating: 0.0, count: 8)
        try assertResumesBitIdentically(NonlinearConjugateGradient<Double>(configuration: .init(casesPerBatch: 50)),
                                        objective: .leastSquares(cases: 200, dimension: 8, seed: 5), start: start, first: 7, second: 9)
        try assertResumesBitIdentically(StochasticGradientDescent<Double>(configuration: .init(momentumKind: .nesterov,
                                                                                               schedule: .stepDecay(factor: 0.5, every: 5), batchSize: 30)),
                                        objective: .leastSquares(cases: 200, dimension: 8, seed: 5), start: start, first: 13, second: 11)
        try assertResumesBitIdentically(Adam<Double>(configuration: .init(batchSize: 30)),
                                        objective: .leastSquares(cases: 200, dimension: 8, seed: 5), start: start, first: 13, second: 11)
        try assertResumesBitIdentically(LBFGS<Double>(configuration: .init(memory: 3)),
                                        objective: .rosenbrock(dimension: 8), start: start, first: 6, second: 6)
    }
}

/// f(x) = 1/2 sum_i d_i (x_i - c_i)^2 in Float, d_i from 1 to 50: exercises the Float paths
/// (step scalars converted to Float, Float dot products accumulated in Double).
final class FloatQuadratic: StochasticObjective {
    typealias Scalar = Float
    let curvatures: [Float] = (0..<12).map { 1 + 49 * Float($0) / 11 }
    let minimizer: [Float] = (0..<12).map { Float($0 % 5) - 2 }
    var parameterCount: Int { 12 }
    var caseCount: Int { 1 }
    var supportedCurvatures: [CurvatureKind] { [] }
    func valueAndGradient(at parameters: Vector<Float>, cases: CaseSelection) throws -> (value: Double, gradient: Vector<Float>) {
        var f = 0.0
        var g = [Float](repeating: 0, count: 12)
        for i in 0..<12 {
            let r = parameters[i] - minimizer[i]
            f += 0.5 * Double(curvatures[i]) * Double(r) * Double(r)
            g[i] = curvatures[i] * r
        }
        return (f, Vector(g))
    }
    func evaluate(at parameters: Vector<Float>, squaredGradientDiagonal: Bool) throws -> Evaluation<Float> {
        let (f, g) = try valueAndGradient(at: parameters, cases: .all)
        return Evaluation(value: f, gradient: g)
    }
    func value(at parameters: Vector<Float>, cases: CaseSelection) -> Double { (try? valueAndGradient(at: parameters, cases: cases).value) ?? .nan }
    func curvature(_ kind: CurvatureKind, at parameters: Vector<Float>, cases: CaseSelection) throws -> any CurvatureOperator<Float> {
        throw ObjectiveError.unsupportedCurvature(kind, supported: [])
    }
}

final class FloatBaselineTests: XCTestCase {
    /// Every optimizer in Float reaches the minimizer to 1e-4 (Float's 6e-8 relative rounding
    /// of x ~ 2, times the condition number 50, stays well below it).
    func testEveryOptimizerConvergesInFloat() throws {
        let q = FloatQuadratic()
        func distance(_ x: Vector<Float>) -> Double { zip(x.elements, q.minimizer).reduce(0) { max($0, Double(abs($1.0 - $1.1))) } }
        let start = Vector<Float>(zeros: 12)
        let ncg = NonlinearConjugateGradient<Float>(configuration: .init(casesPerBatch: nil))
        var s1 = ncg.makeState(parameters: start, caseCount: 1, seed: 0)
        for _ in 0..<200 where !s1.stalled && distance(s1.parameters) > 1e-5 { s1 = try ncg.step(s1, objective: q).state }
        XCTAssertLessThan(distance(s1.parameters), 1e-4, "ncg")
        let lbfgs = LBFGS<Float>()
        var s2 = lbfgs.makeState(parameters: start, caseCount: 1, seed: 0)
        for _ in 0..<100 where !s2.stalled && distance(s2.parameters) > 1e-5 { s2 = try lbfgs.step(s2, objective: q).state }
        XCTAssertLessThan(distance(s2.parameters), 1e-4, "lbfgs")
        let sgd = StochasticGradientDescent<Float>(configuration: .init(learningRate: 0.02, momentumKind: .nesterov))
        let (s3, _) = try runSteps(sgd, from: sgd.makeState(parameters: start, caseCount: 1, seed: 0), on: q, steps: 1000)
        XCTAssertLessThan(distance(s3.parameters), 1e-4, "sgd")
        XCTAssertFalse(s3.stalled)
        let adam = Adam<Float>(configuration: .init(learningRate: 0.05, schedule: .inverseTime(decay: 1e-2)))
        let (s4, _) = try runSteps(adam, from: adam.makeState(parameters: start, caseCount: 1, seed: 0), on: q, steps: 3000)
        XCTAssertLessThan(distance(s4.parameters), 1e-4, "adam")
    }
}
