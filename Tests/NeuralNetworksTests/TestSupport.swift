import XCTest
import LinearAlgebra
import Optimization
@testable import NeuralNetworks

/// Every hidden activation paired with every matched output (activation, loss) pair.
let hiddenActivations: [Activation] = [.logistic, .tanh, .linear, .relu]
let outputActivations: [Activation] = [.logistic, .linear, .softmax]

/// A small random problem: a 4-5-3-k net (two hidden layers of `hidden`, output `output`),
/// `cases` random cases, and random parameters (N(0, 0.7^2) everywhere, biases included, so
/// every bias path is exercised and units sit away from saturation).
struct SmallProblem<Scalar: NetworkScalar> {
    let architecture: NetworkArchitecture
    let inputs: Matrix<Scalar>
    let targets: Matrix<Scalar>
    let parameters: Vector<Scalar>

    init(hidden: Activation, output: Activation, cases: Int = 7, sizes: [Int] = [4, 5, 3, 3], seed: UInt64 = 1) {
        architecture = try! NetworkArchitecture(layerSizes: sizes, activations: Array(repeating: hidden, count: sizes.count - 2) + [output])
        var g = SeededGenerator(seed: seed)
        let (n0, nL) = (sizes.first!, sizes.last!)
        inputs = Matrix(rows: cases, columns: n0, elements: (0..<(cases * n0)).map { _ in Scalar(g.normal()) })
        var t: [Scalar] = []
        for _ in 0..<cases {
            switch output {
            case .softmax:
                let row = (0..<nL).map { _ in g.uniform() + 0.1 }
                let s = row.reduce(0, +)
                t += row.map { Scalar($0 / s) }
            case .linear: t += (0..<nL).map { _ in Scalar(g.normal()) }
            default: t += (0..<nL).map { _ in Scalar(g.uniform()) }
            }
        }
        targets = Matrix(rows: cases, columns: nL, elements: t)
        let n = architecture.layout.parameterCount
        parameters = Vector((0..<n).map { _ in Scalar(0.7 * g.normal()) })
    }

    /// The same problem in another precision.
    init<Other: NetworkScalar>(converting other: SmallProblem<Other>) {
        architecture = other.architecture
        inputs = Matrix(rows: other.inputs.rows, columns: other.inputs.columns, elements: other.inputs.storage.map { Scalar($0) })
        targets = Matrix(rows: other.targets.rows, columns: other.targets.columns, elements: other.targets.storage.map { Scalar($0) })
        parameters = Vector(converting: other.parameters)
    }

    func objective(weightCost: Double = 0, onBiases: Bool = true, chunkSize: Int = 5000, rows: [Int]? = nil) -> NeuralNetworkObjective<Scalar> {
        var x = inputs, t = targets
        if let rows {
            x = Matrix(rows: rows.count, columns: inputs.columns, elements: rows.flatMap { r in (0..<inputs.columns).map { inputs[r, $0] } })
            t = Matrix(rows: rows.count, columns: targets.columns, elements: rows.flatMap { r in (0..<targets.columns).map { targets[r, $0] } })
        }
        return try! NeuralNetworkObjective(architecture: architecture, inputs: x, targets: t, weightCost: weightCost,
                                           weightCostOnBiases: onBiases, chunkSize: chunkSize)
    }

    func randomVector(seed: UInt64) -> Vector<Scalar> {
        var g = SeededGenerator(seed: seed)
        return Vector((0..<parameters.count).map { _ in Scalar(g.normal()) })
    }
}

func unitVector<S: BLASScalar>(_ k: Int, _ n: Int) -> Vector<S> {
    var e = Vector<S>(zeros: n); e[k] = 1; return e
}

func apply<S: BLASScalar>(_ op: any CurvatureOperator<S>, _ v: Vector<S>) -> Vector<S> {
    var r = Vector<S>(zeros: v.count)
    op.apply(v, into: &r)
    return r
}

/// The columns B e_k of an operator, as a row-major n x n array (column k at [.., k]).
func explicitMatrix(_ op: any CurvatureOperator<Double>, _ n: Int) -> [[Double]] {
    var m = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for k in 0..<n {
        let c = apply(op, unitVector(k, n))
        for i in 0..<n { m[i][k] = c[i] }
    }
    return m
}

/// max |a - b| / (1 + max |b|): a relative error with an absolute floor near zero.
func scaledError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    let scale = 1 + (b.map(abs).max() ?? 0)
    return zip(a, b).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

func label(_ p: SmallProblem<some NetworkScalar>) -> String { p.architecture.activations.map(\.rawValue).joined(separator: "-") }
