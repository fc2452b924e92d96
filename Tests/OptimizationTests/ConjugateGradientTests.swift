import XCTest
import Foundation
import LinearAlgebra
@testable import Optimization

final class ConjugateGradientTests: XCTestCase {
    /// Relative error of x against the Cholesky solution after n CG steps. In exact arithmetic it
    /// is 0; in floating point, loss of conjugacy grows with the spread of the spectrum (a
    /// textbook CG in NumPy leaves 1e-3 at n = 20, cond 100), so the random matrices below have
    /// small condition numbers; 1e-7 still catches any wrong update.
    let exactTolerance = 1e-7

    func configuration(maximum: Int, rule: ConjugateGradientStoppingRule = .iterationLimit) -> ConjugateGradientConfiguration {
        var c = ConjugateGradientConfiguration()
        c.maximumIterations = maximum
        c.stoppingRule = rule
        return c
    }

    func testReachesExactSolutionOfRandomSPDSystemWithinNIterations() {
        for (n, cond, seed) in [(1, 1.0, 1 as UInt64), (5, 100, 2), (20, 10, 4), (50, 10, 6)] {
            let q = QuadraticProblem<Double>.random(dimension: n, conditionNumber: cond, seed: seed)
            let reference = choleskySolve(q.matrix, q.linearTerm.elements)
            var g = SeededGenerator(seed: seed + 100)
            let diagonal = Vector<Double>((0..<n).map { _ in 0.5 + g.uniform() })
            for preconditioner in [nil, diagonal] {
                for start in [nil, Vector<Double>((0..<n).map { _ in g.normal() })] {
                    let solver = ConjugateGradientSolver<Double>(dimension: n)
                    let r = solver.solve(apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: start,
                                         preconditioner: preconditioner, configuration: configuration(maximum: n))
                    XCTAssertLessThanOrEqual(r.iterations, n)
                    XCTAssertLessThan(relativeError(r.solution.elements, reference), exactTolerance,
                                      "n = \(n), preconditioned = \(preconditioner != nil), warm = \(start != nil)")
                }
            }
        }
    }

    /// Finite termination: with 3 distinct eigenvalues (spread 1e4) over n = 50, CG is exact
    /// after 3 iterations, far sooner than its convergence bound would allow.
    func testTerminatesInAsManyIterationsAsDistinctEigenvalues() {
        let eig = (0..<50).map { [1.0, 1e2, 1e4][$0 % 3] }
        let q = QuadraticProblem<Double>.random(eigenvalues: eig, seed: 21)
        let reference = choleskySolve(q.matrix, q.linearTerm.elements)
        let r = ConjugateGradientSolver<Double>(dimension: 50).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: nil, preconditioner: nil,
            configuration: configuration(maximum: 3))
        XCTAssertLessThan(relativeError(r.solution.elements, reference), exactTolerance)
    }

    func testPhiDecreasesMonotonicallyAndMatchesTheExplicitQuadratic() {
        let n = 40
        let q = QuadraticProblem<Double>.random(dimension: n, conditionNumber: 1e4, seed: 7)
        var g = SeededGenerator(seed: 8)
        let start = Vector<Double>((0..<n).map { _ in 3 * g.normal() })
        let m = Vector<Double>((0..<n).map { _ in 0.1 + g.uniform() })
        let r = ConjugateGradientSolver<Double>(dimension: n).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: start, preconditioner: m,
            configuration: configuration(maximum: 30))
        XCTAssertEqual(r.phiHistory.count, r.iterations + 1)
        // phi is non-increasing; rounding may reorder the last digits once CG has converged.
        let slack = 1e-12 * abs(r.phiHistory.last!)
        for i in 1..<r.phiHistory.count {
            XCTAssertLessThanOrEqual(r.phiHistory[i], r.phiHistory[i - 1] + slack, "phi rose at iteration \(i)")
        }
        // phi = 1/2 (r - b)'x from the recurrence equals 1/2 x'Ax - b'x computed directly.
        for it in r.iterates {
            let x = it.solution.elements
            let ax = multiply(q.matrix, x)
            let direct = 0.5 * zip(x, ax).map(*).reduce(0, +) - zip(q.linearTerm.elements, x).map(*).reduce(0, +)
            XCTAssertEqual(it.phi, direct, accuracy: 1e-9 * max(1, abs(direct)))
            XCTAssertEqual(it.phi, r.phiHistory[it.iteration])
        }
    }

    func testRelativeProgressRuleFiresExactlyWhereTheFormulaSays() {
        let c = ConjugateGradientConfiguration()
        XCTAssertEqual(c.progressGap(atIteration: 1), 10)
        XCTAssertEqual(c.progressGap(atIteration: 100), 10)
        XCTAssertEqual(c.progressGap(atIteration: 101), 11)
        XCTAssertEqual(c.progressGap(atIteration: 250), 25)

        // phi_i = -i up to i = 20, then flat. At i = 29 (k = 10) the relative progress over the
        // last 10 iterations is (-20 + 19) / -20 = 0.05 > 10 * 5e-4; at i = 30 it is 0: stop at 30.
        var phi: [Double] = (0...20).map { -Double($0) }
        phi += [Double](repeating: -20, count: 40)
        XCTAssertFalse(c.relativeProgressSatisfied(iteration: 29, phi: phi[29], phiGapAgo: phi[19]))
        XCTAssertTrue(c.relativeProgressSatisfied(iteration: 30, phi: phi[30], phiGapAgo: phi[20]))
        XCTAssertEqual(c.firstRelativeProgressStop(phi: phi), 30)

        // Geometric progress phi_i = -(1 - 0.9^i): relative progress over k iterations is
        // (0.9^{i-k} - 0.9^i) / (1 - 0.9^i); the first i > k where it is below k * 5e-4, found by
        // brute force here with the formula written out independently.
        let geometric = (0...400).map { -(1 - powTest(0.9, Double($0))) }
        var expected: Int? = nil
        for i in 1..<geometric.count {
            let k = max(10, Int((0.1 * Double(i)).rounded(.up)))
            if i > k && geometric[i - k] < 0 && (geometric[i] - geometric[i - k]) / geometric[i] < Double(k) * 5e-4 {
                expected = i; break
            }
        }
        XCTAssertNotNil(expected)
        XCTAssertEqual(c.firstRelativeProgressStop(phi: geometric), expected)

        // Never before i > k, and never while phi(x_{i-k}) >= 0 (a warm start can make phi positive).
        XCTAssertNil(c.firstRelativeProgressStop(phi: [Double](repeating: -1, count: 11)))
        XCTAssertNil(c.firstRelativeProgressStop(phi: [Double](repeating: 5, count: 60)))
        // minimumIterations postpones the test.
        var late = c
        late.minimumIterations = 45
        XCTAssertEqual(late.firstRelativeProgressStop(phi: phi), 45)
    }

    func testSolverStopsWhereThePureRuleSays() {
        let q = QuadraticProblem<Double>.random(dimension: 200, conditionNumber: 1e5, seed: 11)
        let r = ConjugateGradientSolver<Double>(dimension: 200).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: nil, preconditioner: nil,
            configuration: ConjugateGradientConfiguration())
        XCTAssertEqual(r.termination, .relativeProgress)
        XCTAssertEqual(ConjugateGradientConfiguration().firstRelativeProgressStop(phi: r.phiHistory), r.iterations)
        XCTAssertEqual(r.products, r.iterations)  // cold start: one product per iteration, none for phi
    }

    func testStoredIterateSchedule() {
        let c = ConjugateGradientConfiguration()
        // ceil(5 * 1.3^j) by repeated multiplication, as in conjgrad_1.m. (5 * 1.3^6 = 24.13, so 25.)
        XCTAssertEqual(c.storageSchedule(upTo: 250), [5, 7, 9, 11, 15, 19, 25, 32, 41, 54, 69, 90, 117, 152, 197])
        let q = QuadraticProblem<Double>.random(dimension: 100, conditionNumber: 1e6, seed: 12)
        let r = ConjugateGradientSolver<Double>(dimension: 100).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: nil, preconditioner: nil,
            configuration: configuration(maximum: 60))
        XCTAssertEqual(r.iterations, 60)
        XCTAssertEqual(r.iterates.map(\.iteration), [5, 7, 9, 11, 15, 19, 25, 32, 41, 54, 60])
        // The last stored iterate is not duplicated when the run ends on a storage iteration.
        let s = ConjugateGradientSolver<Double>(dimension: 100).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: nil, preconditioner: nil,
            configuration: configuration(maximum: 54))
        XCTAssertEqual(s.iterates.map(\.iteration), [5, 7, 9, 11, 15, 19, 25, 32, 41, 54])
    }

    func testStopsOnNonPositiveCurvatureAndSaysSo() {
        // A = diag(1, -2), b = (1, 1): p_0 = b, p'Ap = 1 - 2 < 0 at the first iteration.
        let a = Vector<Double>([1, -2])
        let r = ConjugateGradientSolver<Double>(dimension: 2).solve(
            apply: { v, out in out.assign(v); out.multiply(elementwiseBy: a) }, b: Vector([1, 1]), start: nil,
            preconditioner: nil, configuration: ConjugateGradientConfiguration())
        XCTAssertEqual(r.termination, .nonPositiveCurvature)
        XCTAssertEqual(r.iterations, 0)
        XCTAssertEqual(r.solution.elements, [0, 0])
        XCTAssertEqual(r.iterates.count, 1)
    }

    func testResidualRuleAndExactSolution() {
        let q = QuadraticProblem<Double>.random(dimension: 30, conditionNumber: 1e3, seed: 13)
        let r = ConjugateGradientSolver<Double>(dimension: 30).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: q.linearTerm, start: nil, preconditioner: nil,
            configuration: configuration(maximum: 250, rule: .residual))
        XCTAssertEqual(r.termination, .residual)
        let b = q.linearTerm.norm
        XCTAssertLessThan(r.residualNorm, min(0.5, b.squareRoot()) * b)
        // b = 0 from a zero start: x = 0 is exact; no product is spent.
        let z = ConjugateGradientSolver<Double>(dimension: 30).solve(
            apply: { v, out in q.multiply(v, into: &out) }, b: Vector(zeros: 30), start: nil, preconditioner: nil,
            configuration: ConjugateGradientConfiguration())
        XCTAssertEqual(z.termination, .exactSolution)
        XCTAssertEqual(z.products, 0)
    }
}

func powTest(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
