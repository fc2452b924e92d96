import XCTest
import LinearAlgebra
@testable import Optimization

/// An objective that counts what the optimizer asks of it, and can make one curvature product
/// return NaN (the trap of a non-finite CG solution kept as the next warm start).
private final class CountingQuadratic: HFObjective {
    typealias Scalar = Double
    let base: QuadraticProblem<Double>
    var gradientPasses = 0, fullValues = 0, batchValues = 0, linearizations = 0, products = 0
    /// When set, the first product of the operator made for this iteration (1-based) is NaN.
    var poisonedOperator: Int?

    init(_ base: QuadraticProblem<Double>) { self.base = base }
    var parameterCount: Int { base.parameterCount }
    var caseCount: Int { base.caseCount }
    var supportedCurvatures: [CurvatureKind] { base.supportedCurvatures }
    func evaluate(at parameters: Vector<Double>, squaredGradientDiagonal: Bool) throws -> Evaluation<Double> {
        gradientPasses += 1
        return try base.evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal)
    }
    func value(at parameters: Vector<Double>, cases: CaseSelection) -> Double {
        if cases == .all { fullValues += 1 } else { batchValues += 1 }
        return base.value(at: parameters, cases: cases)
    }
    func curvature(_ kind: CurvatureKind, at parameters: Vector<Double>, cases: CaseSelection) throws -> any CurvatureOperator<Double> {
        linearizations += 1
        let inner = try base.curvature(kind, at: parameters, cases: cases)
        return Counted(inner: inner, owner: self, poisoned: poisonedOperator == linearizations)
    }

    final class Counted: CurvatureOperator {
        let inner: any CurvatureOperator<Double>
        unowned let owner: CountingQuadratic
        var poisoned: Bool
        init(inner: any CurvatureOperator<Double>, owner: CountingQuadratic, poisoned: Bool) {
            self.inner = inner; self.owner = owner; self.poisoned = poisoned
        }
        var kind: CurvatureKind { inner.kind }
        func apply(_ v: Vector<Double>, into result: inout Vector<Double>) {
            owner.products += 1
            inner.apply(v, into: &result)
            if poisoned { result.scale(by: .nan); poisoned = false }
        }
    }
}

final class IterationWorkTests: XCTestCase {
    private func problem() -> QuadraticProblem<Double> {
        QuadraticProblem<Double>.random(eigenvalues: (0..<12).map { pow(10, Double($0) / 4) }, seed: 3)
    }

    /// Per iteration: one full-data gradient, CG's own products only (one more than its
    /// iterations when it starts warm, for the initial residual), one linearization, and no
    /// curvature product or batch pass for rho.
    func testAnIterationDoesOnlyTheWorkTheAlgorithmNeeds() throws {
        let objective = CountingQuadratic(problem())
        var c = HessianFreeConfiguration()
        c.preconditioner = false
        c.conjugateGradient.maximumIterations = 6   // several iterations, so warm starts happen
        c.reductionRatioData = .fullData
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        let start = Vector<Double>((0..<12).map { Double($0 % 3) - 1 })
        let result = try optimizer.run(objective, from: try optimizer.initialState(parameters: start, for: objective),
                                       stopping: StoppingRules(maximumIterations: 5))
        XCTAssertEqual(result.records.count, 5)
        XCTAssertEqual(objective.gradientPasses, 5 + 1, "one gradient per iteration plus the starting point")
        XCTAssertEqual(objective.linearizations, 5)
        XCTAssertEqual(objective.batchValues, 0)
        let cgProducts = result.records.enumerated().map { i, r in r.conjugateGradientIterations + (i > 0 ? 1 : 0) }
        XCTAssertEqual(objective.products, cgProducts.reduce(0, +), "no product beyond CG's own")
        XCTAssertEqual(result.state.curvatureProducts, objective.products)
        // Full-data values: backtracking and the line search only, which the record counts.
        XCTAssertEqual(objective.fullValues, result.state.valueEvaluations)
    }

    /// rho from CG's phi equals rho from an explicit product: (f(theta + p) - f(theta)) / q(p)
    /// with q(p) = g'p + p'Ap/2 computed here from the matrix.
    func testReductionRatioComesFromCGsModelValue() throws {
        let q = problem()
        var c = HessianFreeConfiguration()
        c.preconditioner = false; c.lineSearch = false; c.backtracking = false
        c.reductionRatioData = .fullData; c.reductionRatioModel = .undamped
        c.conjugateGradient.maximumIterations = 4
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        let theta = Vector<Double>((0..<12).map { 0.3 * Double($0) - 2 })
        let (next, record) = try optimizer.step(try optimizer.initialState(parameters: theta, for: q), on: q)
        var p = next.parameters; p.add(theta, scaledBy: -1)
        let g = try q.evaluate(at: theta, squaredGradientDiagonal: false)
        var ap = Vector<Double>(zeros: 12)
        try q.curvature(.gaussNewton, at: theta, cases: .all).apply(p, into: &ap)
        let model = g.gradient.dot(p) + 0.5 * p.dot(ap)
        let expected = (q.value(at: next.parameters, cases: .all) - g.value) / model
        XCTAssertEqual(record.reductionRatio, expected, accuracy: 1e-9 * abs(expected))
        XCTAssertEqual(record.modelChange, model, accuracy: 1e-9 * abs(model))
        // rho's data is the full set here, so the full-data rho is rho itself.
        XCTAssertEqual(record.fullDataReductionRatio, record.reductionRatio)
    }

    /// A curvature product that turns NaN once: the direction is dropped (not applied, not
    /// kept as the warm start), lambda rises, the record says so, and the run recovers.
    func testNonFiniteDirectionIsNeverKeptAndTheRunRecovers() throws {
        let objective = CountingQuadratic(problem())
        objective.poisonedOperator = 2   // iteration 2 starts warm: its first product is the residual
        var c = HessianFreeConfiguration()
        c.conjugateGradient.maximumIterations = 30
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        let start = Vector<Double>((0..<12).map { Double($0 % 3) - 1 })
        var state = try optimizer.initialState(parameters: start, for: objective)
        var records: [HessianFreeRecord] = []
        for _ in 0..<40 {
            let (s, r) = try optimizer.step(state, on: objective)
            state = s; records.append(r)
            if r.iteration == 2 {
                XCTAssertTrue(r.nonFiniteDirection)
                XCTAssertFalse(r.stepAccepted)
                XCTAssertEqual(r.lambdaAfter, r.lambda * c.lambdaIncreaseFactor)
                XCTAssertNil(state.previousSolution, "a NaN direction must not become the warm start")
                XCTAssertEqual(r.objectiveAfter, r.objective)
            } else {
                XCTAssertFalse(r.nonFiniteDirection, "iteration \(r.iteration)")
            }
            XCTAssertTrue(state.parameters.isFinite)
        }
        XCTAssertTrue(records[2...].contains { $0.stepAccepted }, "the run moves again after the bad product")
        // The minimum of 1/2 x'Ax + c'x is -1/2 c'A^-1 c; compare with where the run ended.
        let final = try objective.base.evaluate(at: state.parameters, squaredGradientDiagonal: false)
        XCTAssertLessThan(final.gradient.norm, 1e-6)
    }
}
