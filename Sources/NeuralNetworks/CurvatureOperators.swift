import LinearAlgebra
import Optimization

/// The memory of a curvature operator on B cases: room for every layer's activations of the
/// gathered batch, and the R-pass work buffers of one curvature kind. An objective keeps the
/// last one and hands it to its next operator of the same kind and batch size once no
/// operator holds it any more, so an HF iteration allocates and zero-fills none of it (for
/// the MNIST auto-encoder and B = 7500 about 270 MB). While no operator holds it, the
/// objective's full-data passes run in its workspace too (their chunks fit, and the square
/// buffers are sized for them), so one set of buffers serves both. Every buffer is written
/// before it is read, so reused contents never leak into a product.
final class CurvatureScratch<Scalar: NetworkScalar> {
    let kind: CurvatureKind
    let rows: Int
    let workspace: PassWorkspace<Scalar>
    /// R-forward ping-pong buffers (Gauss-Newton, Fisher): B x widest layer.
    let rForward: [ScratchBuffer<Scalar>]
    /// delta_l for l = 1...L (Hessian, Fisher): B x n_l; index 0 unused.
    let deltas: [ScratchBuffer<Scalar>]
    /// (delta_{l+1} W_{l+1}') * f''_l for hidden l (Hessian): B x n_l.
    let secondOrder: [ScratchBuffer<Scalar>]
    /// Rz_l and Ra_l of hidden layers (Hessian): B x n_l.
    let rz: [ScratchBuffer<Scalar>]
    let ra: [ScratchBuffer<Scalar>]
    /// s_i = g_i . v (Fisher): B.
    let caseDots: ScratchBuffer<Scalar>

    /// - Parameters:
    ///   - squaresRows: room in the square buffers (for the full-data passes that borrow the
    ///     workspace; the products never use them).
    ///   - gathersTargets: false for an auto-encoder, whose gathered inputs are its targets.
    init(kind: CurvatureKind, architecture: NetworkArchitecture, rows b: Int, squaresRows: Int = 0, gathersTargets: Bool = true) {
        self.kind = kind; rows = b
        // A process of a data-parallel run may hold none of a batch's cases (b = 0).
        workspace = PassWorkspace(architecture: architecture, capacity: max(b, 1), squaresCapacity: squaresRows,
                                  gathersTargets: gathersTargets)
        let sizes = architecture.layerSizes
        let L = sizes.count - 1
        let widest = sizes.max()!
        let products = kind != .finiteDifference
        rForward = kind == .gaussNewton || kind == .fisher ? [ScratchBuffer(count: b * widest), ScratchBuffer(count: b * widest)] : []
        deltas = kind == .hessian || kind == .fisher ? sizes.map { ScratchBuffer(count: b * $0) } : []
        secondOrder = kind == .hessian
            ? sizes.enumerated().map { ScratchBuffer<Scalar>(count: $0.offset == 0 || $0.offset == L ? 1 : b * $0.element) } : []
        rz = kind == .hessian ? sizes.map { ScratchBuffer(count: b * $0) } : []
        ra = kind == .hessian ? sizes.map { ScratchBuffer(count: b * $0) } : []
        caseDots = ScratchBuffer(count: products && kind == .fisher ? b : 1)
    }
}

/// A curvature mini-batch gathered once: its input rows (B x n_0) in `workspace.activations[0]`
/// and target rows (B x n_L) in `workspace.gatheredTargets` (for an auto-encoder, whose
/// targets are its inputs, the input rows serve as both); the workspace has room for every
/// layer's activations of all B cases.
///
/// B (`rows`) counts the cases this process holds; `batchSize` those of all shards, the
/// divisor of the mean. In a data-parallel run a process may hold none of a batch's cases.
final class CurvatureBatch<Scalar: NetworkScalar> {
    let rows: Int
    let batchSize: Int
    /// Holds the batch's memory for as long as an operator uses this batch.
    let scratch: CurvatureScratch<Scalar>
    var workspace: PassWorkspace<Scalar> { scratch.workspace }

    init(inputs: Matrix<Scalar>, targets: Matrix<Scalar>, rows selection: [Int], batchSize: Int, scratch: CurvatureScratch<Scalar>) {
        precondition(batchSize >= selection.count && batchSize > 0, "batch of \(batchSize) cases cannot hold \(selection.count) local ones")
        precondition(scratch.rows == selection.count, "scratch for \(scratch.rows) cases, batch of \(selection.count)")
        rows = selection.count
        self.batchSize = batchSize
        self.scratch = scratch
        let (n0, nL) = (inputs.columns, targets.columns)
        let gi = workspace.activations[0].pointer, gt = workspace.gatheredTargets.pointer
        let gathersTargets = workspace.gathersTargets
        inputs.storage.withUnsafeBufferPointer { x in
            targets.storage.withUnsafeBufferPointer { t in
                precondition(gathersTargets || (x.baseAddress == t.baseAddress && n0 == nL),
                             "a batch without room for targets needs the inputs as targets")
                for (r, row) in selection.enumerated() {
                    (gi + r * n0).update(from: x.baseAddress! + row * n0, count: n0)
                    if gathersTargets { (gt + r * nL).update(from: t.baseAddress! + row * nL, count: nL) }
                }
            }
        }
    }
    var input: UnsafePointer<Scalar> { UnsafePointer(workspace.activations[0].pointer) }
    var target: UnsafePointer<Scalar> {
        workspace.gathersTargets ? UnsafePointer(workspace.gatheredTargets.pointer) : input
    }
}

/// Gauss-Newton, exact Hessian or empirical Fisher products on a fixed batch, linearized at
/// fixed parameters. All three include the weight-cost term weightCost * v and average the
/// data term over the cases of the batch (summed across shards by `reducer` first).
///
/// - Gauss-Newton (Schraudolph 2002): R-forward Rz_l = Ra_{l-1} W_l + a_{l-1} V_l + vb_l,
///   Ra_l = f'_l * Rz_l; then H_L Rz_L (the matched loss's Hessian in z_L) is backpropagated
///   through the linearized network like a delta.
/// - Hessian (Pearlmutter 1994): the same R-forward; the R-backward adds the terms of the
///   product rule: Rdelta_{l-1} = (Rdelta_l W_l' + delta_l V_l') * f' + (delta_l W_l') * f'' * Rz,
///   and Hv_W_l = a_{l-1}' Rdelta_l + Ra_{l-1}' delta_l.
/// - Fisher: s_i = g_i . v = sum_l rowdot(a_{l-1} V_l + vb_l, delta_l)_i, then the gradient
///   pass with deltas scaled by s_i, giving (1/B) sum_i g_i (g_i . v) without ever forming a
///   per-case gradient.
///
/// The forward activations (and, for Hessian and Fisher, the deltas) are computed once in
/// `init`; `apply` only does R-passes.
final class NetworkCurvatureOperator<Scalar: NetworkScalar>: CurvatureOperator {
    let kind: CurvatureKind
    let passes: NetworkPasses<Scalar>
    let parameters: Vector<Scalar>
    let batch: CurvatureBatch<Scalar>
    let regularizer: WeightCost
    let reducer: any ShardReducer
    /// f(theta) on the batch (mean loss over all shards plus weight cost), from the
    /// linearizing forward pass.
    let valueAtLinearizationPoint: Double?
    private var rForward: [ScratchBuffer<Scalar>] { batch.scratch.rForward }
    private var deltas: [ScratchBuffer<Scalar>] { batch.scratch.deltas }
    private var secondOrder: [ScratchBuffer<Scalar>] { batch.scratch.secondOrder }
    private var rz: [ScratchBuffer<Scalar>] { batch.scratch.rz }
    private var ra: [ScratchBuffer<Scalar>] { batch.scratch.ra }
    private var caseDots: ScratchBuffer<Scalar> { batch.scratch.caseDots }

    init(kind: CurvatureKind, passes: NetworkPasses<Scalar>, parameters: Vector<Scalar>,
         batch: CurvatureBatch<Scalar>, regularizer: WeightCost, reducer: any ShardReducer) {
        precondition(kind != .finiteDifference, "finite differences have their own operator")
        precondition(batch.scratch.kind == kind, "scratch made for \(batch.scratch.kind), operator of \(kind)")
        self.kind = kind; self.passes = passes; self.parameters = parameters
        self.batch = batch; self.regularizer = regularizer; self.reducer = reducer
        let b = batch.rows
        let sizes = passes.architecture.layerSizes
        let L = passes.layerCount
        let needsDeltas = kind != .gaussNewton
        let deltas = batch.scratch.deltas, secondOrder = batch.scratch.secondOrder

        // Linearize: forward once; the loss kernel turns z_L into y_L and writes delta_L. Every
        // shard takes part in the sum of the batch loss, also one holding none of the batch.
        let ws = batch.workspace
        let localLoss: Double = b == 0 ? 0 : parameters.elements.withUnsafeBufferPointer { t in
            let theta = t.baseAddress!
            passes.forward(parameters: theta, input: batch.input, rows: b, outputs: { ws.activations[$0].pointer }, activateOutput: false)
            let loss = passes.outputLoss(ws.activations[L].pointer, targets: batch.target,
                                         gradient: needsDeltas ? deltas[L].pointer : nil, rows: b)
            guard needsDeltas else { return loss }
            for l in stride(from: L, through: 2, by: -1) {
                let (fanIn, fanOut) = (sizes[l - 1], sizes[l])
                let next = deltas[l - 1].pointer
                gemm(MatrixView(base: UnsafePointer(deltas[l].pointer), rows: b, columns: fanOut), .none,
                     passes.layout.weights(l, theta), .transposed, into: MutableMatrixView(base: next, rows: b, columns: fanIn))
                let activation = passes.architecture.activations[l - 2]
                let a = UnsafePointer(ws.activations[l - 1].pointer)
                if kind == .hessian {
                    secondOrder[l - 1].pointer.update(from: next, count: b * fanIn)
                    NetworkPasses<Scalar>.multiplyBySecondDerivative(activation, secondOrder[l - 1].pointer, outputs: a, count: b * fanIn)
                }
                NetworkPasses<Scalar>.multiplyByDerivative(activation, next, outputs: a, count: b * fanIn)
            }
            return loss
        }
        valueAtLinearizationPoint = reducer.sumAcrossShards(localLoss) / Double(batch.batchSize)
            + parameters.elements.withUnsafeBufferPointer { regularizer.value($0.baseAddress!) }
    }

    /// a_{l-1}: the batch inputs for l = 1, layer l-1's outputs otherwise (B x n_{l-1}).
    private func activation(_ l: Int) -> UnsafePointer<Scalar> {
        l == 1 ? batch.input : UnsafePointer(batch.workspace.activations[l - 1].pointer)
    }

    /// out = a_{l-1} V_l + vb_l (+ Ra_{l-1} W_l when given): B x n_l.
    private func rForwardLayer(_ l: Int, theta: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
                               previousR: UnsafePointer<Scalar>?, into out: UnsafeMutablePointer<Scalar>) {
        let layer = passes.layout.layers[l - 1]
        let b = batch.rows
        Scalar.broadcastRow(v + layer.biasOffset, into: out, rows: b, columns: layer.fanOut)
        let outView = MutableMatrixView(base: out, rows: b, columns: layer.fanOut)
        gemm(MatrixView(base: activation(l), rows: b, columns: layer.fanIn), .none, passes.layout.weights(l, v), .none,
             into: outView, alpha: 1, beta: 1)
        if let previousR {
            gemm(MatrixView(base: previousR, rows: b, columns: layer.fanIn), .none, passes.layout.weights(l, theta), .none,
                 into: outView, alpha: 1, beta: 1)
        }
    }

    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) {
        precondition(v.count == parameters.count && result.count == parameters.count,
                     "curvature product: expected vectors of \(parameters.count), got \(v.count) and \(result.count)")
        result.setZero()
        parameters.elements.withUnsafeBufferPointer { t in
            v.elements.withUnsafeBufferPointer { vp in
                result.elements.withUnsafeMutableBufferPointer { r in
                    let (theta, direction, out) = (t.baseAddress!, vp.baseAddress!, r.baseAddress!)
                    if batch.rows > 0 {
                        switch kind {
                        case .gaussNewton: gaussNewton(theta, direction, out)
                        case .hessian: hessian(theta, direction, out)
                        case .fisher: fisher(theta, direction, out)
                        case .finiteDifference: preconditionFailure("unreachable")
                        }
                    }
                    reducer.sumAcrossShards(generic: r)
                    regularizer.add(direction, into: out)
                }
            }
        }
    }

    private func gaussNewton(_ theta: UnsafePointer<Scalar>, _ v: UnsafePointer<Scalar>, _ out: UnsafeMutablePointer<Scalar>) {
        let L = passes.layerCount, b = batch.rows
        let ws = batch.workspace
        var previous: UnsafePointer<Scalar>? = nil
        for l in 1...L {
            // The output layer's Rz goes straight into the backward delta buffer.
            let target = l == L ? ws.delta.pointer : rForward[l % 2].pointer
            rForwardLayer(l, theta: theta, v: v, previousR: previous, into: target)
            if l < L {
                NetworkPasses<Scalar>.multiplyByDerivative(passes.architecture.activations[l - 1], target,
                                                           outputs: ws.activations[l].pointer, count: b * passes.size(l))
            }
            previous = UnsafePointer(target)
        }
        passes.multiplyByOutputHessian(ws.delta.pointer, outputs: ws.activations[L].pointer, rows: b)
        passes.backward(parameters: theta, input: batch.input, rows: b,
                        activations: { UnsafePointer(ws.activations[$0].pointer) }, workspace: ws,
                        scale: Scalar(1.0 / Double(batch.batchSize)), gradient: out, squaredGradient: nil)
    }

    private func hessian(_ theta: UnsafePointer<Scalar>, _ v: UnsafePointer<Scalar>, _ out: UnsafeMutablePointer<Scalar>) {
        let L = passes.layerCount, b = batch.rows
        let ws = batch.workspace
        let sizes = passes.architecture.layerSizes
        for l in 1...L {
            let target = l == L ? ws.delta.pointer : rz[l].pointer
            rForwardLayer(l, theta: theta, v: v, previousR: l == 1 ? nil : UnsafePointer(ra[l - 1].pointer), into: target)
            if l < L {
                ra[l].pointer.update(from: target, count: b * sizes[l])
                NetworkPasses<Scalar>.multiplyByDerivative(passes.architecture.activations[l - 1], ra[l].pointer,
                                                           outputs: ws.activations[l].pointer, count: b * sizes[l])
            }
        }
        passes.multiplyByOutputHessian(ws.delta.pointer, outputs: ws.activations[L].pointer, rows: b)
        let scale = Scalar(1.0 / Double(batch.batchSize))
        for l in stride(from: L, through: 1, by: -1) {
            let layer = passes.layout.layers[l - 1]
            let rdelta = MatrixView(base: UnsafePointer(ws.delta.pointer), rows: b, columns: layer.fanOut)
            let hW = MutableMatrixView(base: out + layer.weightOffset, rows: layer.fanIn, columns: layer.fanOut)
            gemm(MatrixView(base: activation(l), rows: b, columns: layer.fanIn), .transposed, rdelta, .none, into: hW, alpha: scale, beta: 1)
            if l > 1 {
                gemm(MatrixView(base: UnsafePointer(ra[l - 1].pointer), rows: b, columns: layer.fanIn), .transposed,
                     MatrixView(base: UnsafePointer(deltas[l].pointer), rows: b, columns: layer.fanOut), .none,
                     into: hW, alpha: scale, beta: 1)
            }
            Scalar.addColumnSums(of: ws.delta.pointer, rows: b, columns: layer.fanOut, scaledBy: scale, into: out + layer.biasOffset)
            if l > 1 {
                let next = ws.nextDelta.pointer
                let nextView = MutableMatrixView(base: next, rows: b, columns: layer.fanIn)
                gemm(rdelta, .none, passes.layout.weights(l, theta), .transposed, into: nextView)
                gemm(MatrixView(base: UnsafePointer(deltas[l].pointer), rows: b, columns: layer.fanOut), .none,
                     passes.layout.weights(l, v), .transposed, into: nextView, alpha: 1, beta: 1)
                NetworkPasses<Scalar>.multiplyByDerivative(passes.architecture.activations[l - 2], next,
                                                           outputs: ws.activations[l - 1].pointer, count: b * layer.fanIn)
                Scalar.addProduct(next, secondOrder[l - 1].pointer, rz[l - 1].pointer, count: b * layer.fanIn)
                swap(&ws.delta, &ws.nextDelta)
            }
        }
    }

    private func fisher(_ theta: UnsafePointer<Scalar>, _ v: UnsafePointer<Scalar>, _ out: UnsafeMutablePointer<Scalar>) {
        let L = passes.layerCount, b = batch.rows
        let s = caseDots.pointer
        s.update(repeating: 0, count: b)
        let u = rForward[0].pointer
        for l in 1...L {
            rForwardLayer(l, theta: theta, v: v, previousR: nil, into: u)
            Scalar.addRowDots(u, deltas[l].pointer, rows: b, columns: passes.size(l), into: s)
        }
        let scale = Scalar(1.0 / Double(batch.batchSize))
        for l in 1...L {
            let layer = passes.layout.layers[l - 1]
            u.update(from: deltas[l].pointer, count: b * layer.fanOut)
            Scalar.scaleRows(u, by: s, rows: b, columns: layer.fanOut)
            gemm(MatrixView(base: activation(l), rows: b, columns: layer.fanIn), .transposed,
                 MatrixView(base: UnsafePointer(u), rows: b, columns: layer.fanOut), .none,
                 into: MutableMatrixView(base: out + layer.weightOffset, rows: layer.fanIn, columns: layer.fanOut), alpha: scale, beta: 1)
            Scalar.addColumnSums(of: u, rows: b, columns: layer.fanOut, scaledBy: scale, into: out + layer.biasOffset)
        }
    }
}

/// Hessian products by central differences of batch gradients (section 3's identity, for the
/// comparison of section 4.2): Hv ~ (grad f(theta + eps v) - grad f(theta - eps v)) / (2 eps).
///
/// The gradient includes the weight cost, so the product includes weightCost * v (exactly:
/// that part is linear). Step: eps = cbrt(ulp(1)) * (1 + rms(theta)) / rms(v), i.e. the
/// perturbation's RMS is cbrt(ulp(1)) relative to the parameters' scale, which balances the
/// O(eps^2) truncation error of central differences against the O(ulp / eps) rounding error
/// (about 5e-3 relative in Float, 6e-6 in Double). Costs two gradient passes per product.
final class FiniteDifferenceHessianOperator<Scalar: NetworkScalar>: CurvatureOperator {
    let kind = CurvatureKind.finiteDifference
    let passes: NetworkPasses<Scalar>
    let parameters: Vector<Scalar>
    let batch: CurvatureBatch<Scalar>
    let regularizer: WeightCost
    let reducer: any ShardReducer
    let workspace: PassWorkspace<Scalar>
    private var shifted: Vector<Scalar>
    private var plusGradient: Vector<Scalar>

    init(passes: NetworkPasses<Scalar>, parameters: Vector<Scalar>, batch: CurvatureBatch<Scalar>,
         regularizer: WeightCost, chunkSize: Int, reducer: any ShardReducer) {
        self.passes = passes; self.parameters = parameters; self.batch = batch; self.regularizer = regularizer
        self.reducer = reducer
        workspace = PassWorkspace(architecture: passes.architecture, capacity: max(min(chunkSize, batch.rows), 1),
                                  squaresCapacity: 0, gathersTargets: false)
        shifted = parameters
        plusGradient = Vector(zeros: parameters.count)
    }

    /// The batch gradient (mean loss gradient over all shards plus weight cost) at `theta` into `gradient`.
    private func batchGradient(at theta: Vector<Scalar>, into gradient: inout Vector<Scalar>) {
        gradient.setZero()
        let scale = Scalar(1.0 / Double(batch.batchSize))
        theta.elements.withUnsafeBufferPointer { t in
            gradient.elements.withUnsafeMutableBufferPointer { g in
                if batch.rows > 0 {
                    _ = passes.accumulate(parameters: t.baseAddress!, inputs: batch.input, targets: batch.target,
                                          totalRows: batch.rows, rows: nil, workspace: workspace, chunk: workspace.capacity, scale: scale,
                                          gradient: g.baseAddress!, squaredGradient: nil)
                }
                reducer.sumAcrossShards(generic: g)
                regularizer.add(t.baseAddress!, into: g.baseAddress!)
            }
        }
    }

    func apply(_ v: Vector<Scalar>, into result: inout Vector<Scalar>) {
        precondition(v.count == parameters.count && result.count == parameters.count,
                     "curvature product: expected vectors of \(parameters.count), got \(v.count) and \(result.count)")
        let n = Double(max(parameters.count, 1))
        let vRMS = v.norm / n.squareRoot()
        if vRMS == 0 { result.setZero(); return }
        let epsilon = Double(Scalar.ulpOfOne).cubeRoot * (1 + parameters.norm / n.squareRoot()) / vRMS
        shifted.assign(parameters)
        shifted.add(v, scaledBy: Scalar(epsilon))
        batchGradient(at: shifted, into: &plusGradient)
        shifted.assign(parameters)
        shifted.add(v, scaledBy: Scalar(-epsilon))
        batchGradient(at: shifted, into: &result)
        // result = (g+ - g-) / (2 eps)
        result.scale(by: -1)
        result.add(plusGradient)
        result.scale(by: Scalar(1 / (2 * epsilon)))
    }
}

extension Double {
    /// The real cube root of a non-negative number.
    fileprivate var cubeRoot: Double {
        var y = self > 0 ? Double(sign: .plus, exponent: exponent / 3, significand: 1) : 0
        if y == 0 { return 0 }
        for _ in 0..<60 { y = y - (y * y * y - self) / (3 * y * y) }
        return y
    }
}
