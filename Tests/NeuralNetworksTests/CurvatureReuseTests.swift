import XCTest
import LinearAlgebra
import Optimization
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
}
