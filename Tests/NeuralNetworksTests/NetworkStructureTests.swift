import XCTest
import LinearAlgebra
import Optimization
@testable import NeuralNetworks

final class NetworkStructureTests: XCTestCase {
    func testArchitectureValidation() {
        XCTAssertThrowsError(try NetworkArchitecture(layerSizes: [3], activations: []))
        XCTAssertThrowsError(try NetworkArchitecture(layerSizes: [3, 0, 2], activations: [.logistic, .linear]))
        XCTAssertThrowsError(try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.logistic]))
        XCTAssertThrowsError(try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.softmax, .linear])) { error in
            XCTAssertEqual(error as? NetworkError, .softmaxInHiddenLayer(1))
        }
        XCTAssertThrowsError(try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.logistic, .tanh])) { error in
            XCTAssertEqual(error as? NetworkError, .unmatchedOutputActivation(.tanh))
        }
        XCTAssertEqual(try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.relu, .softmax]).loss, .multinomialCrossEntropy)
        XCTAssertEqual(try NetworkArchitecture(layerSizes: [3, 2], activations: [.logistic]).loss, .binaryCrossEntropy)
        XCTAssertEqual(try NetworkArchitecture(layerSizes: [3, 2], activations: [.linear]).loss, .squaredError)
    }

    func testParameterLayoutOffsets() throws {
        let layout = ParameterLayout(layerSizes: [3, 4, 2])
        XCTAssertEqual(layout.parameterCount, 3 * 4 + 4 + 4 * 2 + 2)
        XCTAssertEqual(layout.layers[0].weightRange, 0..<12)
        XCTAssertEqual(layout.layers[0].biasRange, 12..<16)
        XCTAssertEqual(layout.layers[1].weightRange, 16..<24)
        XCTAssertEqual(layout.layers[1].biasRange, 24..<26)
    }

    /// Flop counts by hand for 3-4-2 (products of 2 c 3 4 = 24c and 2 c 4 2 = 16c flops): the
    /// gradient pass has 2 products in layer 1 and 3 in layer 2, the squared-gradient diagonal
    /// one more per layer, a Gauss-Newton product 2 and 4.
    func testFlopCountsByHand() throws {
        let a = try NetworkArchitecture(layerSizes: [3, 4, 2], activations: [.logistic, .linear])
        XCTAssertEqual(a.gradientFlops(cases: 5), 5 * (2 * 24 + 3 * 16))
        XCTAssertEqual(a.gradientFlops(cases: 5, squaredGradient: true), 5 * (3 * 24 + 4 * 16))
        XCTAssertEqual(a.gaussNewtonProductFlops(cases: 5), 5 * (2 * 24 + 4 * 16))
    }

    /// A hand-computed forward pass pins down the layout convention (W fan-in x fan-out).
    func testForwardPassByHand() throws {
        let a = try NetworkArchitecture(layerSizes: [2, 2, 1], activations: [.relu, .linear])
        // W1 = [[1, -1], [2, 0.5]], b1 = [0.5, -3], W2 = [[2], [-1]], b2 = [0.25]
        let theta = Vector<Double>([1, -1, 2, 0.5, 0.5, -3, 2, -1, 0.25])
        let net = try NeuralNetwork(architecture: a, parameters: theta)
        let x = Matrix<Double>(rows: 2, columns: 2, elements: [1, 2, -1, 0])
        // case 1: z1 = [1*1 + 2*2 + 0.5, -1 + 1 - 3] = [5.5, -3], a1 = [5.5, 0], y = 11.25
        // case 2: z1 = [-1 + 0.5, 1 - 3] = [-0.5, -2], a1 = [0, 0], y = 0.25
        let y = net.outputs(for: x)
        XCTAssertEqual(y.storage, [11.25, 0.25])
        let m = try net.metrics(inputs: x, targets: Matrix(rows: 2, columns: 1, elements: [11, 1.25]))
        XCTAssertEqual(m.reconstructionError, (0.0625 + 1) / 2, accuracy: 1e-15)
        XCTAssertEqual(m.loss, (0.0625 + 1) / 2, accuracy: 1e-15) // squared error without the 1/2
        XCTAssertNil(m.classificationError)
    }

    /// Reconstruction error uses output activations (not pre-activations); classification
    /// error counts argmax disagreements.
    func testMetricsOnLogisticAndSoftmaxOutputs() throws {
        let p = SmallProblem<Double>(hidden: .tanh, output: .logistic, cases: 9)
        let net = try NeuralNetwork(architecture: p.architecture, parameters: p.parameters)
        let y = net.outputs(for: p.inputs)
        let expected = zip(y.storage, p.targets.storage).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 9
        XCTAssertEqual(try net.metrics(inputs: p.inputs, targets: p.targets, chunkSize: 2).reconstructionError, expected, accuracy: 1e-14)
        XCTAssertTrue(y.storage.allSatisfy { $0 > 0 && $0 < 1 })

        let s = SmallProblem<Double>(hidden: .relu, output: .softmax, cases: 9)
        let sn = try NeuralNetwork(architecture: s.architecture, parameters: s.parameters)
        let ys = sn.outputs(for: s.inputs)
        var wrong = 0
        for i in 0..<9 {
            let row = (0..<3).map { ys[i, $0] }, t = (0..<3).map { s.targets[i, $0] }
            XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-14)
            if row.firstIndex(of: row.max()!) != t.firstIndex(of: t.max()!) { wrong += 1 }
        }
        let m = try sn.metrics(inputs: s.inputs, targets: s.targets, chunkSize: 4)
        XCTAssertEqual(m.classificationError, Double(wrong) / 9)
        XCTAssertEqual(m.loss, s.objective().value(at: s.parameters, cases: .all), accuracy: 1e-14)
        // The gradient pass gathers the same metrics on the training set.
        for problem in [p, s] {
            let f = problem.objective(weightCost: 0.1, chunkSize: 4)
            XCTAssertNil(f.lastEvaluationMetrics)
            _ = try f.evaluate(at: problem.parameters, squaredGradientDiagonal: false)
            let fromPass = try XCTUnwrap(f.lastEvaluationMetrics)
            let direct = try f.trainingMetrics(at: problem.parameters)
            XCTAssertEqual(fromPass.cases, direct.cases)
            XCTAssertEqual(fromPass.loss, direct.loss, accuracy: 1e-14)
            XCTAssertEqual(fromPass.reconstructionError, direct.reconstructionError, accuracy: 1e-14)
            XCTAssertEqual(fromPass.classificationError, direct.classificationError)
        }
        XCTAssertThrowsError(try sn.metrics(inputs: s.inputs, targets: p.targets.transposedShapeForTest()))
    }

    func testSparseInitializationHasExactlyTheStatedConnections() throws {
        let a = try NetworkArchitecture(layerSizes: [40, 30, 10, 5], activations: [.logistic, .tanh, .linear])
        let net = NeuralNetwork<Float>(architecture: a, initialization: .martens, seed: 42)
        for (index, layer) in net.layout.layers.enumerated() {
            let expectedPerUnit = min(15, layer.fanIn)
            for unit in 0..<layer.fanOut {
                let nonZeros = (0..<layer.fanIn).filter { net.parameters[layer.weightOffset + $0 * layer.fanOut + unit] != 0 }.count
                XCTAssertEqual(nonZeros, expectedPerUnit, "layer \(index + 1) unit \(unit)")
            }
            let expectedBias: Float = a.activations[index] == .tanh ? 0.5 : 0
            XCTAssertTrue(layer.biasRange.allSatisfy { net.parameters[$0] == expectedBias })
        }
        // Values look N(0, 1) on the logistic layer (30 * 15 = 450 draws).
        let w = net.layout.layers[0].weightRange.map { Double(net.parameters[$0]) }.filter { $0 != 0 }
        let mean = w.reduce(0, +) / Double(w.count)
        let variance = w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)
        XCTAssertEqual(mean, 0, accuracy: 0.2)
        XCTAssertEqual(variance, 1, accuracy: 0.25)
        // Reproducible from the seed, different across seeds.
        XCTAssertEqual(NeuralNetwork<Float>(architecture: a, initialization: .martens, seed: 42).parameters, net.parameters)
        XCTAssertNotEqual(NeuralNetwork<Float>(architecture: a, initialization: .martens, seed: 43).parameters, net.parameters)
    }

    func testDenseInitializationScale() throws {
        let a = try NetworkArchitecture(layerSizes: [400, 300, 2], activations: [.logistic, .linear])
        let net = NeuralNetwork<Double>(architecture: a, initialization: .dense(scale: 1), seed: 1)
        let w = net.layout.layers[0].weightRange.map { net.parameters[$0] }
        let variance = w.map { $0 * $0 }.reduce(0, +) / Double(w.count)
        XCTAssertEqual(variance, 1.0 / 400, accuracy: 0.05 / 400)
        XCTAssertTrue(net.layout.layers[0].biasRange.allSatisfy { net.parameters[$0] == 0 })
    }

    func testObjectiveRejectsBadShapes() {
        let p = SmallProblem<Double>(hidden: .logistic, output: .linear)
        XCTAssertThrowsError(try NeuralNetworkObjective(architecture: p.architecture, inputs: p.targets, targets: p.targets))
        XCTAssertThrowsError(try NeuralNetworkObjective(architecture: p.architecture, inputs: p.inputs, targets: p.targets, chunkSize: 0))
        XCTAssertThrowsError(try NeuralNetworkObjective(architecture: p.architecture, inputs: p.inputs, targets: p.targets, weightCost: -1))
        XCTAssertThrowsError(try NeuralNetwork<Double>(architecture: p.architecture, parameters: Vector(zeros: 2)))
    }

    /// A reducer that pretends there are two identical shards: sums double, and the global
    /// case count doubles, so means are unchanged. Checks that every sum passes the seam.
    func testSumsPassThroughTheShardReducer() throws {
        struct TwoIdenticalShards: ShardReducer {
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) { for i in values.indices { values[i] *= 2 } }
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) { for i in values.indices { values[i] *= 2 } }
        }
        let p = SmallProblem<Double>(hidden: .logistic, output: .logistic)
        let local = p.objective(weightCost: 0.01)
        let sharded = try NeuralNetworkObjective(architecture: p.architecture, inputs: p.inputs, targets: p.targets,
                                                 weightCost: 0.01, reducer: TwoIdenticalShards())
        XCTAssertEqual(sharded.caseCount, 14)
        let (a, b) = (try local.evaluate(at: p.parameters, squaredGradientDiagonal: true),
                      try sharded.evaluate(at: p.parameters, squaredGradientDiagonal: true))
        XCTAssertEqual(a.value, b.value, accuracy: 1e-14)
        XCTAssertLessThan(scaledError(a.gradient.elements, b.gradient.elements), 1e-14)
        XCTAssertLessThan(scaledError(a.squaredGradientDiagonal!.elements, b.squaredGradientDiagonal!.elements), 1e-14)
        XCTAssertEqual(local.value(at: p.parameters, cases: .all), sharded.value(at: p.parameters, cases: .all), accuracy: 1e-14)
    }

    /// Shard 1 of 3 holding 7 cases, the others 4 and 6 (they contribute nothing else): case
    /// selections name global cases 0..<17, of which this shard holds 4..<11.
    func testCaseSelectionsNameGlobalCasesAndEachShardSumsThoseItHolds() throws {
        struct MiddleOfThree: ShardReducer {
            var shardIndex: Int { 1 }
            var shardCount: Int { 3 }
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Float>) {}
            func sumAcrossShards(_ values: UnsafeMutableBufferPointer<Double>) {
                // Only the case counts (one slot per shard) get the other shards' parts.
                if values.count == 3 { values[0] += 4; values[2] += 6 }
            }
        }
        let p = SmallProblem<Double>(hidden: .logistic, output: .logistic)
        let local = p.objective(weightCost: 0)
        let shard = try NeuralNetworkObjective(architecture: p.architecture, inputs: p.inputs, targets: p.targets,
                                               reducer: MiddleOfThree())
        XCTAssertEqual(shard.caseCount, 17)
        XCTAssertEqual(shard.caseOffset, 4)
        // Global 4, 8 and 10 are local 0, 4 and 6; the mean is over all 5 selected cases.
        let global = [0, 4, 8, 10, 16]
        XCTAssertEqual(shard.value(at: p.parameters, cases: .indices(global)),
                       local.value(at: p.parameters, cases: .indices([0, 4, 6])) * 3 / 5, accuracy: 1e-14)
        let v = Vector<Double>((0..<p.parameters.count).map { Double($0 % 5) - 2 })
        var sharded = Vector<Double>(zeros: v.count), expected = Vector<Double>(zeros: v.count)
        try shard.curvature(.gaussNewton, at: p.parameters, cases: .indices(global)).apply(v, into: &sharded)
        try local.curvature(.gaussNewton, at: p.parameters, cases: .indices([0, 4, 6])).apply(v, into: &expected)
        expected.scale(by: 3.0 / 5.0)
        XCTAssertLessThan(scaledError(sharded.elements, expected.elements), 1e-14)
        // A batch with none of this shard's cases contributes zeros (no weight cost here).
        try shard.curvature(.gaussNewton, at: p.parameters, cases: .indices([0, 16])).apply(v, into: &sharded)
        XCTAssertEqual(sharded.elements, Array(repeating: 0, count: v.count))
        XCTAssertThrowsError(try shard.curvature(.gaussNewton, at: p.parameters, cases: .indices([17])))
    }
}

extension Matrix {
    /// A matrix with rows and columns swapped in shape only (for shape-mismatch tests).
    func transposedShapeForTest() -> Matrix { Matrix(rows: columns, columns: rows, elements: storage) }
}
