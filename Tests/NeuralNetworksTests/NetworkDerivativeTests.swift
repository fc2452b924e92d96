import XCTest
import LinearAlgebra
import Optimization
@testable import NeuralNetworks

/// Gradients and curvature products in Double against independent references, for every
/// hidden activation and every matched output/loss pair.
///
/// Tolerances. Central differences with step h = 1e-5 in Double have truncation error
/// O(h^2 |f'''|) ~ 1e-10 and rounding error O(ulp * |f| / h) ~ 1e-11 for these O(1) problems;
/// `derivativeTolerance` = 1e-7 (relative to 1 + the largest reference entry) leaves three
/// orders of magnitude of margin and still catches any missing term (which is O(0.1)).
/// Exact products that should be symmetric are compared with `symmetryTolerance` = 1e-12:
/// they differ only by the rounding of different summation orders.
final class NetworkDerivativeTests: XCTestCase {
    let h = 1e-5
    let derivativeTolerance = 1e-7
    let symmetryTolerance = 1e-12

    func allProblems() -> [SmallProblem<Double>] {
        var problems: [SmallProblem<Double>] = []
        for (i, hidden) in hiddenActivations.enumerated() {
            for (j, output) in outputActivations.enumerated() {
                problems.append(SmallProblem(hidden: hidden, output: output, seed: UInt64(10 * i + j + 1)))
            }
        }
        return problems
    }

    func testGradientMatchesCentralDifferences() throws {
        for p in allProblems() {
            for (wc, onBiases) in [(0.0, true), (0.03, true), (0.03, false)] {
                let f = p.objective(weightCost: wc, onBiases: onBiases)
                let g = try f.evaluate(at: p.parameters, squaredGradientDiagonal: false)
                XCTAssertEqual(g.value, f.value(at: p.parameters, cases: .all), accuracy: 1e-14, label(p))
                var fd: [Double] = []
                for k in 0..<p.parameters.count {
                    var plus = p.parameters, minus = p.parameters
                    plus[k] += h; minus[k] -= h
                    fd.append((f.value(at: plus, cases: .all) - f.value(at: minus, cases: .all)) / (2 * h))
                }
                XCTAssertLessThan(scaledError(g.gradient.elements, fd), derivativeTolerance, "\(label(p)) wc \(wc) biases \(onBiases)")
            }
        }
    }

    /// G = (1/B) sum_i J_i' H_i J_i + wc I with J_i = dz_L/dtheta from finite differences of
    /// the network's output pre-activations (the same parameters in a linear-output network)
    /// and H_i the matched loss's Hessian written out by hand.
    func testGaussNewtonMatchesExplicitJacobianProduct() throws {
        for p in allProblems() {
            let wc = 0.02
            let f = p.objective(weightCost: wc)
            let n = p.parameters.count, b = p.inputs.rows, nL = p.architecture.outputSize
            let linearOutput = try NetworkArchitecture(layerSizes: p.architecture.layerSizes,
                                                       activations: p.architecture.activations.dropLast() + [.linear])
            func z(_ theta: Vector<Double>) -> Matrix<Double> {
                try! NeuralNetwork(architecture: linearOutput, parameters: theta).outputs(for: p.inputs)
            }
            // J[i][a][k] = dz_{i,a}/dtheta_k
            var jacobian = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: n), count: nL), count: b)
            for k in 0..<n {
                var plus = p.parameters, minus = p.parameters
                plus[k] += h; minus[k] -= h
                let (zp, zm) = (z(plus), z(minus))
                for i in 0..<b { for a in 0..<nL { jacobian[i][a][k] = (zp[i, a] - zm[i, a]) / (2 * h) } }
            }
            let y = try NeuralNetwork(architecture: p.architecture, parameters: p.parameters).outputs(for: p.inputs)
            var expected = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for i in 0..<b {
                var hl = [[Double]](repeating: [Double](repeating: 0, count: nL), count: nL)
                for a in 0..<nL {
                    for c in 0..<nL {
                        switch p.architecture.loss {
                        case .binaryCrossEntropy: hl[a][c] = a == c ? y[i, a] * (1 - y[i, a]) : 0
                        case .squaredError: hl[a][c] = a == c ? 2 : 0
                        case .multinomialCrossEntropy: hl[a][c] = (a == c ? y[i, a] : 0) - y[i, a] * y[i, c]
                        }
                    }
                }
                for j in 0..<n {
                    for a in 0..<nL where jacobian[i][a][j] != 0 {
                        for c in 0..<nL where hl[a][c] != 0 {
                            let w = jacobian[i][a][j] * hl[a][c] / Double(b)
                            for k in 0..<n { expected[j][k] += w * jacobian[i][c][k] }
                        }
                    }
                }
            }
            for k in 0..<n { expected[k][k] += wc }
            let op = try f.curvature(.gaussNewton, at: p.parameters, cases: .all)
            XCTAssertEqual(op.kind, .gaussNewton)
            let g = explicitMatrix(op, n)
            XCTAssertLessThan(scaledError(g.flatMap { $0 }, expected.flatMap { $0 }), 1e-6, label(p))
            // Symmetric and positive semi-definite (v'Gv >= wc |v|^2 > 0 here).
            var asymmetry = 0.0
            for j in 0..<n { for k in 0..<n { asymmetry = max(asymmetry, abs(g[j][k] - g[k][j])) } }
            XCTAssertLessThan(asymmetry, symmetryTolerance * (1 + g.flatMap { $0 }.map(abs).max()!), label(p))
            for s in 0..<5 {
                let v = p.randomVector(seed: 100 + UInt64(s))
                XCTAssertGreaterThanOrEqual(v.dot(apply(op, v)), wc * v.squaredNorm * (1 - 1e-12), label(p))
            }
            // Without weight cost the smallest v'Gv is still >= 0 (semi-definite).
            let op0 = try p.objective().curvature(.gaussNewton, at: p.parameters, cases: .all)
            for s in 0..<5 {
                let v = p.randomVector(seed: 200 + UInt64(s))
                XCTAssertGreaterThanOrEqual(v.dot(apply(op0, v)), -1e-12, label(p))
            }
        }
    }

    /// Hv on a mini-batch against central differences of the batch gradient, column by column.
    func testHessianMatchesGradientDifferencesAndIsSymmetric() throws {
        for p in allProblems() {
            let rows = [5, 0, 3, 6]
            let f = p.objective(weightCost: 0.01)
            let batchObjective = p.objective(weightCost: 0.01, rows: rows)
            let op = try f.curvature(.hessian, at: p.parameters, cases: .indices(rows))
            XCTAssertEqual(op.kind, .hessian)
            let n = p.parameters.count
            let hessian = explicitMatrix(op, n)
            var expected = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for k in 0..<n {
                var plus = p.parameters, minus = p.parameters
                plus[k] += h; minus[k] -= h
                let gp = try batchObjective.evaluate(at: plus, squaredGradientDiagonal: false).gradient
                let gm = try batchObjective.evaluate(at: minus, squaredGradientDiagonal: false).gradient
                for i in 0..<n { expected[i][k] = (gp[i] - gm[i]) / (2 * h) }
            }
            XCTAssertLessThan(scaledError(hessian.flatMap { $0 }, expected.flatMap { $0 }), derivativeTolerance, label(p))
            var asymmetry = 0.0
            for j in 0..<n { for k in 0..<n { asymmetry = max(asymmetry, abs(hessian[j][k] - hessian[k][j])) } }
            XCTAssertLessThan(asymmetry, symmetryTolerance * (1 + hessian.flatMap { $0 }.map(abs).max()!), label(p))
        }
    }

    /// The finite-difference operator agrees with the exact Hessian product. Its own step
    /// (cbrt(ulp) relative, about 6e-6 in Double) gives errors near 1e-9 on these problems.
    func testFiniteDifferenceOperatorMatchesExactHessian() throws {
        for p in allProblems() {
            let f = p.objective(weightCost: 0.01, onBiases: false)
            let exact = try f.curvature(.hessian, at: p.parameters, cases: .all)
            let approximate = try f.curvature(.finiteDifference, at: p.parameters, cases: .all)
            XCTAssertEqual(approximate.kind, .finiteDifference)
            let v = p.randomVector(seed: 7)
            XCTAssertLessThan(scaledError(apply(approximate, v).elements, apply(exact, v).elements), 1e-6, label(p))
        }
    }

    /// Fv and the squared-gradient diagonal against per-case gradients, each computed by its
    /// own one-case objective.
    func testFisherProductAndDiagonalMatchPerCaseGradients() throws {
        for p in allProblems() {
            let wc = 0.05
            let b = p.inputs.rows
            let perCase = try (0..<b).map { i in try p.objective(rows: [i]).evaluate(at: p.parameters, squaredGradientDiagonal: false).gradient }
            let f = p.objective(weightCost: wc, onBiases: false)
            let op = try f.curvature(.fisher, at: p.parameters, cases: .all)
            XCTAssertEqual(op.kind, .fisher)
            let v = p.randomVector(seed: 3)
            var expected = Vector<Double>(zeros: v.count)
            for g in perCase { expected.add(g, scaledBy: g.dot(v) / Double(b)) }
            for l in p.architecture.layout.layers { for k in l.weightRange { expected[k] += wc * v[k] } }
            XCTAssertLessThan(scaledError(apply(op, v).elements, expected.elements), 1e-12, label(p))

            let diagonal = try f.evaluate(at: p.parameters, squaredGradientDiagonal: true).squaredGradientDiagonal!
            var expectedDiagonal = [Double](repeating: 0, count: v.count)
            for g in perCase { for k in 0..<v.count { expectedDiagonal[k] += g[k] * g[k] / Double(b) } }
            XCTAssertLessThan(scaledError(diagonal.elements, expectedDiagonal), 1e-12, label(p))
        }
    }

    /// Chunked passes equal one-chunk passes up to summation order (Double rounding).
    func testChunkedEvaluationEqualsUnchunked() throws {
        for p in allProblems() {
            let whole = try p.objective(weightCost: 0.01, chunkSize: 1000).evaluate(at: p.parameters, squaredGradientDiagonal: true)
            // Deterministic: the same pass twice gives the same bits.
            let repeated = p.objective(weightCost: 0.01, chunkSize: 3)
            let (first, second) = (try repeated.evaluate(at: p.parameters, squaredGradientDiagonal: true),
                                   try repeated.evaluate(at: p.parameters, squaredGradientDiagonal: true))
            XCTAssertEqual(first.value, second.value)
            XCTAssertEqual(first.gradient, second.gradient)
            XCTAssertEqual(first.squaredGradientDiagonal, second.squaredGradientDiagonal)
            for chunk in [1, 2, 3, 6] {
                let f = p.objective(weightCost: 0.01, chunkSize: chunk)
                let chunked = try f.evaluate(at: p.parameters, squaredGradientDiagonal: true)
                XCTAssertEqual(chunked.value, whole.value, accuracy: 1e-13 * (1 + abs(whole.value)), label(p))
                XCTAssertLessThan(scaledError(chunked.gradient.elements, whole.gradient.elements), 1e-13, label(p))
                XCTAssertLessThan(scaledError(chunked.squaredGradientDiagonal!.elements, whole.squaredGradientDiagonal!.elements), 1e-13, label(p))
                XCTAssertEqual(f.value(at: p.parameters, cases: .indices([6, 1, 2, 4])),
                               p.objective(weightCost: 0.01, rows: [6, 1, 2, 4]).value(at: p.parameters, cases: .all),
                               accuracy: 1e-13, label(p))
                let network = try NeuralNetwork(architecture: p.architecture, parameters: p.parameters)
                XCTAssertEqual(network.outputs(for: p.inputs, chunkSize: chunk), network.outputs(for: p.inputs, chunkSize: 1000))
            }
        }
    }

    /// Float agrees with Double. Float's unit roundoff is 6e-8; through three layers of O(1)
    /// sums of a few terms the relative error stays near 1e-6, so 1e-5 is the bound for
    /// values, gradients and curvature products (a Float bug, e.g. a wrong tail lane, is O(1)).
    func testFloatAgreesWithDouble() throws {
        let floatTolerance = 1e-5
        for hidden in hiddenActivations {
            for output in outputActivations {
                // 11 cases and 9 inputs, so kernel tails (8 lanes in Float) are exercised.
                let pd = SmallProblem<Double>(hidden: hidden, output: output, cases: 11, sizes: [9, 10, 11, 3])
                let pf = SmallProblem<Float>(converting: pd)
                let fd = pd.objective(weightCost: 0.01, chunkSize: 4), ff = pf.objective(weightCost: 0.01, chunkSize: 4)
                let ed = try fd.evaluate(at: pd.parameters, squaredGradientDiagonal: true)
                let ef = try ff.evaluate(at: pf.parameters, squaredGradientDiagonal: true)
                XCTAssertEqual(ef.value, ed.value, accuracy: floatTolerance * (1 + abs(ed.value)), label(pd))
                XCTAssertLessThan(scaledError(ef.gradient.elements.map(Double.init), ed.gradient.elements), floatTolerance, label(pd))
                XCTAssertLessThan(scaledError(ef.squaredGradientDiagonal!.elements.map(Double.init), ed.squaredGradientDiagonal!.elements), floatTolerance, label(pd))
                let v = pd.randomVector(seed: 5)
                for kind in [CurvatureKind.gaussNewton, .hessian, .fisher] {
                    let bd = apply(try fd.curvature(kind, at: pd.parameters, cases: .indices([1, 3, 5, 7, 9, 10, 2, 0, 4])), v)
                    let bf = apply(try ff.curvature(kind, at: pf.parameters, cases: .indices([1, 3, 5, 7, 9, 10, 2, 0, 4])), Vector<Float>(converting: v))
                    XCTAssertLessThan(scaledError(bf.elements.map(Double.init), bd.elements), floatTolerance, "\(label(pd)) \(kind)")
                }
                let md = try NeuralNetwork(architecture: pd.architecture, parameters: pd.parameters).metrics(inputs: pd.inputs, targets: pd.targets, chunkSize: 4)
                let mf = try NeuralNetwork(architecture: pf.architecture, parameters: pf.parameters).metrics(inputs: pf.inputs, targets: pf.targets, chunkSize: 4)
                XCTAssertEqual(mf.reconstructionError, md.reconstructionError, accuracy: floatTolerance * (1 + md.reconstructionError))
            }
        }
    }

    /// Weight cost: value + (wc/2)|theta|^2, gradient + wc theta, curvature + wc v, each on
    /// all parameters or on weights only.
    func testWeightCostAndBiasExclusion() throws {
        let p = SmallProblem<Double>(hidden: .tanh, output: .logistic)
        let wc = 0.1
        let layout = p.architecture.layout
        let weightMask = (0..<p.parameters.count).map { k in layout.layers.contains { $0.weightRange.contains(k) } ? 1.0 : 0.0 }
        let base = try p.objective().evaluate(at: p.parameters, squaredGradientDiagonal: true)
        let v = p.randomVector(seed: 11)
        for onBiases in [true, false] {
            let mask = onBiases ? [Double](repeating: 1, count: weightMask.count) : weightMask
            let f = p.objective(weightCost: wc, onBiases: onBiases)
            let e = try f.evaluate(at: p.parameters, squaredGradientDiagonal: true)
            let penalty = zip(p.parameters.elements, mask).map { $0 * $0 * $1 }.reduce(0, +) * wc / 2
            XCTAssertEqual(e.value, base.value + penalty, accuracy: 1e-13)
            XCTAssertLessThan(scaledError(e.gradient.elements, (0..<mask.count).map { base.gradient[$0] + wc * mask[$0] * p.parameters[$0] }), 1e-14)
            // The diagonal excludes the weight cost.
            XCTAssertEqual(e.squaredGradientDiagonal, base.squaredGradientDiagonal)
            for kind in [CurvatureKind.gaussNewton, .hessian, .fisher] {
                let with = apply(try f.curvature(kind, at: p.parameters, cases: .all), v)
                let without = apply(try p.objective().curvature(kind, at: p.parameters, cases: .all), v)
                XCTAssertLessThan(scaledError(with.elements, (0..<mask.count).map { without[$0] + wc * mask[$0] * v[$0] }), 1e-14, "\(kind)")
            }
        }
    }

    /// The operator's linearization is reused: repeated products give identical results, and
    /// products are linear in v.
    func testOperatorsAreRepeatableAndLinear() throws {
        let p = SmallProblem<Double>(hidden: .logistic, output: .softmax)
        let f = p.objective(weightCost: 0.01)
        for kind in CurvatureKind.allCases {
            let op = try f.curvature(kind, at: p.parameters, cases: .indices([2, 4, 6]))
            let (v, w) = (p.randomVector(seed: 1), p.randomVector(seed: 2))
            let bv = apply(op, v)
            XCTAssertEqual(apply(op, v), bv, "\(kind)")
            var sum = v; sum.add(w, scaledBy: 2)
            var expected = bv; expected.add(apply(op, w), scaledBy: 2)
            XCTAssertLessThan(scaledError(apply(op, sum).elements, expected.elements), kind == .finiteDifference ? 1e-7 : 1e-13, "\(kind)")
        }
    }

    func testBadCurvatureBatchesThrow() {
        let p = SmallProblem<Double>(hidden: .relu, output: .linear)
        let f = p.objective()
        XCTAssertThrowsError(try f.curvature(.gaussNewton, at: p.parameters, cases: .indices([])))
        XCTAssertThrowsError(try f.curvature(.gaussNewton, at: p.parameters, cases: .indices([99])))
        XCTAssertThrowsError(try f.curvature(.hessian, at: Vector(zeros: 3), cases: .all))
        XCTAssertEqual(f.supportedCurvatures, CurvatureKind.allCases)
        XCTAssertEqual(f.caseCount, 7)
        XCTAssertEqual(f.parameterCount, 4 * 5 + 5 + 5 * 3 + 3 + 3 * 3 + 3)
    }
}
