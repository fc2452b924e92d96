import XCTest
import LinearAlgebra
@testable import Optimization
@testable import NeuralNetworks

/// The objective reuses one operator's memory for the next (no allocation per HF iteration);
/// reuse must never change a product, and never touch memory a live operator still uses.
final class CurvatureReuseTests: XCTestCase {
    private func product(_ op: any CurvatureOperator<Double>, _ v: Vector<Double>) -> Vector<Double> {
        var out = Vector<Double>(zeros: v.count)
        op.apply(v, into: &out)
        return out
    }

    func testReusedMemoryGivesBitIdenticalProductsForEveryKind() throws {
        let p = SmallProblem<Double>(hidden: .tanh, output: .logistic, cases: 9)
        let v = p.randomVector(seed: 5)
        var other = p.parameters; other.add(p.randomVector(seed: 6), scaledBy: 0.3)
        for kind in [CurvatureKind.gaussNewton, .hessian, .fisher, .finiteDifference] {
            let reusing = p.objective(weightCost: 1e-3)
            // First operator on other cases and parameters, released before the second is made.
            _ = product(try reusing.curvature(kind, at: other, cases: .indices([8, 7, 6, 5, 4])), v)
            let reused = try reusing.curvature(kind, at: p.parameters, cases: .indices([0, 2, 4, 6, 8]))
            let fresh = try p.objective(weightCost: 1e-3).curvature(kind, at: p.parameters, cases: .indices([0, 2, 4, 6, 8]))
            XCTAssertEqual(product(reused, v), product(fresh, v), "\(kind)")
        }
    }

    func testALiveOperatorKeepsItsOwnMemory() throws {
        let p = SmallProblem<Double>(hidden: .logistic, output: .linear, cases: 8)
        let objective = p.objective()
        let v = p.randomVector(seed: 2)
        let first = try objective.curvature(.gaussNewton, at: p.parameters, cases: .indices([0, 1, 2, 3]))
        let before = product(first, v)
        var moved = p.parameters; moved.scale(by: 1.5)
        let second = try objective.curvature(.gaussNewton, at: moved, cases: .indices([4, 5, 6, 7]))
        XCTAssertEqual(product(first, v), before, "making a second operator changed the first one's products")
        XCTAssertNotEqual(product(second, v), before)
    }

    /// The linearization's forward pass gives f(theta) on the batch, as `value(at:cases:)` does.
    func testValueAtLinearizationPointEqualsTheBatchObjective() throws {
        for output in outputActivations {
            let p = SmallProblem<Double>(hidden: .logistic, output: output, cases: 10)
            let objective = p.objective(weightCost: 2e-3)
            let cases = CaseSelection.indices([1, 3, 5, 9])
            for kind in [CurvatureKind.gaussNewton, .hessian, .fisher] {
                let op = try objective.curvature(kind, at: p.parameters, cases: cases)
                let expected = objective.value(at: p.parameters, cases: cases)
                let known = try XCTUnwrap(op.valueAtLinearizationPoint, "\(kind)")
                XCTAssertEqual(known, expected, accuracy: 1e-12 * max(1, abs(expected)), "\(output) \(kind)")
            }
        }
    }

    /// Full-data passes run in the idle curvature scratch (the objective's own workspace is
    /// then freed) and give the same numbers, bit for bit, as passes in a workspace of their
    /// own; a live operator's memory is never lent out.
    func testFullDataPassesBorrowOnlyAnIdleScratchAndGiveTheSameNumbers() throws {
        for output in outputActivations {
            let p = SmallProblem<Double>(hidden: .logistic, output: output, cases: 11)
            let batch = CaseSelection.indices([0, 2, 4, 6, 8])
            let someCases = CaseSelection.indices([10, 3, 7, 1])
            let alone = p.objective(weightCost: 1e-3, chunkSize: 3)  // never makes a scratch
            let expected = try alone.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            let expectedValue = alone.value(at: p.parameters, cases: someCases)

            let objective = p.objective(weightCost: 1e-3, chunkSize: 3)
            _ = try objective.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            XCTAssertNotNil(objective.ownWorkspace, "\(output): no scratch yet, so the objective's own workspace serves")
            let v = p.randomVector(seed: 3)
            var op: (any CurvatureOperator<Double>)? = try objective.curvature(.gaussNewton, at: p.parameters, cases: batch)
            XCTAssertNil(objective.ownWorkspace, "\(output): a scratch that can serve the full-data passes frees their own workspace")
            let before = product(op!, v)
            let whileLive = try objective.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            XCTAssertNotNil(objective.ownWorkspace, "\(output): a live operator's scratch was lent out")
            XCTAssertEqual(product(op!, v), before, "\(output): a full-data pass changed a live operator's products")
            XCTAssertEqual(whileLive.gradient, expected.gradient)
            op = nil

            let borrowed = try objective.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            XCTAssertNil(objective.ownWorkspace, "\(output): the idle scratch did not serve the full-data pass")
            XCTAssertEqual(borrowed.value, expected.value, "\(output)")
            XCTAssertEqual(borrowed.gradient, expected.gradient, "\(output)")
            XCTAssertEqual(borrowed.squaredGradientDiagonal, expected.squaredGradientDiagonal, "\(output)")
            XCTAssertEqual(objective.value(at: p.parameters, cases: someCases), expectedValue, "\(output)")
            // The scratch still serves the next operator: the pass's leftovers never leak in.
            let again = try objective.curvature(.gaussNewton, at: p.parameters, cases: batch)
            XCTAssertEqual(product(again, v), before, "\(output)")
        }
    }

    /// An auto-encoder's targets are its inputs (the same memory): no pass gathers target
    /// rows, and every number equals that of an objective given a separate copy of the targets.
    func testAnAutoEncoderGathersNoTargetsAndMatchesACopy() throws {
        for output in [Activation.linear, .logistic] {
            let p = SmallProblem<Double>(hidden: .tanh, output: output, cases: 9, sizes: [4, 3, 4])
            var x = p.inputs
            if output == .logistic {  // cross-entropy targets in [0, 1]
                x = Matrix(rows: x.rows, columns: x.columns, elements: x.storage.map { 1 / (1 + exp(-$0)) })
            }
            let copy = Matrix(rows: x.rows, columns: x.columns, elements: x.storage.map { $0 })
            let shared = try NeuralNetworkObjective(architecture: p.architecture, inputs: x, targets: x, weightCost: 1e-3, chunkSize: 2)
            let separate = try NeuralNetworkObjective(architecture: p.architecture, inputs: x, targets: copy, weightCost: 1e-3, chunkSize: 2)
            XCTAssertTrue(shared.targetsAreInputs)
            XCTAssertFalse(separate.targetsAreInputs)
            let cases = CaseSelection.indices([8, 1, 5, 2])
            let v = p.randomVector(seed: 4)
            for kind in [CurvatureKind.gaussNewton, .hessian, .fisher] {
                XCTAssertEqual(product(try shared.curvature(kind, at: p.parameters, cases: cases), v),
                               product(try separate.curvature(kind, at: p.parameters, cases: cases), v), "\(output) \(kind)")
                XCTAssertEqual(shared.curvatureScratch?.workspace.gathersTargets, false)
                XCTAssertEqual(separate.curvatureScratch?.workspace.gathersTargets, true)
            }
            let a = try shared.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            let b = try separate.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            XCTAssertEqual(a.value, b.value, "\(output)")
            XCTAssertEqual(a.gradient, b.gradient, "\(output)")
            XCTAssertEqual(a.squaredGradientDiagonal, b.squaredGradientDiagonal, "\(output)")
            XCTAssertEqual(shared.value(at: p.parameters, cases: cases), separate.value(at: p.parameters, cases: cases), "\(output)")
        }
    }

    private func address(_ v: Vector<Double>?) -> UnsafeRawPointer? {
        v?.elements.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    /// A spent evaluation's vectors hold the next one's gradient and g^2 (no allocation), with
    /// the same numbers as a fresh evaluation; a caller that still holds the spent vectors
    /// keeps them unchanged (copy-on-write).
    func testAnEvaluationReusesTheVectorsOfASpentOne() throws {
        let p = SmallProblem<Double>(hidden: .logistic, output: .logistic, cases: 9)
        let objective = p.objective(weightCost: 1e-3, chunkSize: 4)
        var moved = p.parameters; moved.add(p.randomVector(seed: 8), scaledBy: 0.2)
        let fresh = try p.objective(weightCost: 1e-3, chunkSize: 4).evaluate(at: moved, squaredGradientDiagonal: true)

        let first = try objective.evaluate(at: p.parameters, squaredGradientDiagonal: true)
        let (g, g2) = (address(first.gradient), address(first.squaredGradientDiagonal))
        let second = try objective.evaluate(at: moved, squaredGradientDiagonal: true, reusing: consume first)
        XCTAssertEqual(address(second.gradient), g, "the gradient was allocated anew")
        XCTAssertEqual(address(second.squaredGradientDiagonal), g2, "g^2 was allocated anew")
        XCTAssertEqual(second.value, fresh.value)
        XCTAssertEqual(second.gradient, fresh.gradient)
        XCTAssertEqual(second.squaredGradientDiagonal, fresh.squaredGradientDiagonal)

        let kept = second
        let third = try objective.evaluate(at: p.parameters, squaredGradientDiagonal: true, reusing: second)
        XCTAssertEqual(kept.gradient, fresh.gradient, "a vector the caller still held was overwritten")
        XCTAssertNotEqual(address(third.gradient), address(kept.gradient))
        XCTAssertEqual(third.gradient, try p.objective(weightCost: 1e-3, chunkSize: 4).evaluate(at: p.parameters, squaredGradientDiagonal: false).gradient)
    }

    /// Forwards to a network objective and counts the evaluations handed a spent one.
    private final class HandBackCounter: HFObjective {
        let inner: NeuralNetworkObjective<Double>
        var handedBack = 0
        init(_ inner: NeuralNetworkObjective<Double>) { self.inner = inner }
        var parameterCount: Int { inner.parameterCount }
        var caseCount: Int { inner.caseCount }
        var supportedCurvatures: [CurvatureKind] { inner.supportedCurvatures }
        func evaluate(at parameters: Vector<Double>, squaredGradientDiagonal: Bool) throws -> Evaluation<Double> {
            try inner.evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal)
        }
        func evaluate(at parameters: Vector<Double>, squaredGradientDiagonal: Bool,
                      reusing spent: consuming Evaluation<Double>?) throws -> Evaluation<Double> {
            let spent = spent
            if spent != nil { handedBack += 1 }
            return try inner.evaluate(at: parameters, squaredGradientDiagonal: squaredGradientDiagonal, reusing: consume spent)
        }
        func value(at parameters: Vector<Double>, cases: CaseSelection) -> Double { inner.value(at: parameters, cases: cases) }
        func curvature(_ kind: CurvatureKind, at parameters: Vector<Double>, cases: CaseSelection) throws -> any CurvatureOperator<Double> {
            try inner.curvature(kind, at: parameters, cases: cases)
        }
    }

    /// An HF step whose caller hands over its state gives its spent evaluation back to the
    /// objective, and ends with the next gradient and g^2 in the vectors it started from.
    func testAnHFStepReusesTheGradientVectors() throws {
        #if DEBUG
        // Measured on 2026-12-02: in a debug build every accepted step ends with new gradient
        // buffers (the spent evaluation's are not uniquely referenced where the objective
        // would write into them, so copy-on-write copies), while the release build `make test`
        // runs reuses them. The reuse is a property of optimized code; the test runs there.
        throw XCTSkip("buffer reuse needs an optimized build (make test, or swift test -c release)")
        #endif
        let p = SmallProblem<Double>(hidden: .tanh, output: .linear, cases: 12)
        let objective = HandBackCounter(p.objective(weightCost: 1e-3, chunkSize: 5))
        var c = HessianFreeConfiguration()
        c.curvatureBatches = .fixed(size: 6)
        let optimizer = try HessianFreeOptimizer<Double>(configuration: c)
        var state = try optimizer.evaluated(try optimizer.initialState(parameters: p.parameters, for: objective), on: objective).state
        var reused = 0
        for _ in 0..<4 {
            let g = address(state.cachedEvaluation?.gradient), g2 = address(state.cachedEvaluation?.squaredGradientDiagonal)
            XCTAssertNotNil(g)
            let (next, record) = try optimizer.step(consume state, on: objective)
            state = next
            if record.stepAccepted {
                XCTAssertEqual(address(state.cachedEvaluation?.gradient), g)
                XCTAssertEqual(address(state.cachedEvaluation?.squaredGradientDiagonal), g2)
                reused += 1
            }
        }
        XCTAssertGreaterThan(reused, 0, "no step was accepted")
        XCTAssertEqual(objective.handedBack, reused, "each accepted step hands its spent evaluation back")
    }
}
