import LinearAlgebra

/// A buffer of `count` scalars allocated once and freed with its owner; work buffers of the
/// passes live in these so hot paths never allocate.
final class ScratchBuffer<Scalar: BLASScalar> {
    let pointer: UnsafeMutablePointer<Scalar>
    let count: Int
    init(count: Int) {
        self.count = max(count, 1)
        pointer = .allocate(capacity: self.count)
        // All-zero bytes are 0.0 for Float and Double; a byte fill avoids a generic
        // element-by-element initialization.
        UnsafeMutableRawPointer(pointer).initializeMemory(as: UInt8.self, repeating: 0, count: self.count * MemoryLayout<Scalar>.stride)
    }
    deinit { pointer.deallocate() }
}

/// Work buffers for forward/backward passes over at most `capacity` cases at a time.
///
/// `activations[l]` holds layer l's outputs (capacity x n_l, row-major) for l = 1...L;
/// `activations[0]` holds gathered input rows when a pass works on a subset of cases, and
/// `gatheredTargets` the matching target rows (unless the workspace is made for an
/// auto-encoder, whose targets are its inputs: then the gathered inputs serve as both). Two
/// delta buffers (capacity x max n_l) are swapped layer by layer; two square buffers, for
/// `squaresCapacity` cases, serve the squared-gradient diagonal.
final class PassWorkspace<Scalar: NetworkScalar> {
    let capacity: Int
    /// Cases the square buffers have room for (0: none).
    let squaresCapacity: Int
    /// Whether `gatheredTargets` has room for `capacity` target rows.
    let gathersTargets: Bool
    let activations: [ScratchBuffer<Scalar>]
    let gatheredTargets: ScratchBuffer<Scalar>
    var delta: ScratchBuffer<Scalar>
    var nextDelta: ScratchBuffer<Scalar>
    let squaredActivations: ScratchBuffer<Scalar>
    let squaredDelta: ScratchBuffer<Scalar>

    /// - Parameters:
    ///   - squaresCapacity: cases of the square buffers (default `capacity`; 0 for passes
    ///     that never compute the squared-gradient diagonal).
    ///   - gathersTargets: false when the targets will always be the inputs.
    init(architecture: NetworkArchitecture, capacity: Int, squaresCapacity: Int? = nil, gathersTargets: Bool = true) {
        precondition(capacity > 0, "workspace capacity must be positive")
        self.capacity = capacity
        self.squaresCapacity = min(max(squaresCapacity ?? capacity, 0), capacity)
        self.gathersTargets = gathersTargets
        let sizes = architecture.layerSizes
        activations = sizes.map { ScratchBuffer(count: capacity * $0) }
        gatheredTargets = ScratchBuffer(count: gathersTargets ? capacity * architecture.outputSize : 1)
        let widest = sizes.max()!
        delta = ScratchBuffer(count: capacity * widest)
        nextDelta = ScratchBuffer(count: capacity * widest)
        squaredActivations = ScratchBuffer(count: self.squaresCapacity * widest)
        squaredDelta = ScratchBuffer(count: self.squaresCapacity * widest)
    }
}

/// The forward and backward passes, written once for every objective and operator.
///
/// Conventions: z_l = a_{l-1} W_l + b_l, a_l = f_l(z_l), a_0 = inputs; all matrices are
/// cases x units, row-major, contiguous. delta_l = dL_i/dz_l for each case i (per-case loss,
/// not averaged).
struct NetworkPasses<Scalar: NetworkScalar> {
    let architecture: NetworkArchitecture
    let layout: ParameterLayout

    init(architecture: NetworkArchitecture) {
        self.architecture = architecture
        layout = architecture.layout
    }

    var layerCount: Int { architecture.layerCount }
    func size(_ l: Int) -> Int { architecture.layerSizes[l] }

    // MARK: Elementwise dispatch

    static func activate(_ activation: Activation, _ x: UnsafeMutablePointer<Scalar>, rows: Int, columns: Int) {
        let n = rows * columns
        switch activation {
        case .logistic: Scalar.logistic(x, count: n)
        case .tanh: Scalar.hyperbolicTangent(x, count: n)
        case .relu: Scalar.rectifiedLinear(x, count: n)
        case .linear: break
        case .softmax: Scalar.softmaxRows(x, rows: rows, columns: columns)
        }
    }

    /// x *= f'(z) with f' written in terms of the outputs y = f(z) (hidden activations only).
    static func multiplyByDerivative(_ activation: Activation, _ x: UnsafeMutablePointer<Scalar>,
                                     outputs y: UnsafePointer<Scalar>, count: Int) {
        switch activation {
        case .logistic: Scalar.multiplyByLogisticDerivative(x, outputs: y, count: count)
        case .tanh: Scalar.multiplyByTanhDerivative(x, outputs: y, count: count)
        case .relu: Scalar.multiplyByReluDerivative(x, outputs: y, count: count)
        case .linear: break
        case .softmax: preconditionFailure("softmax is an output activation only")
        }
    }

    /// The derivative kernel of a hidden activation.
    static func unitDerivative(_ activation: Activation) -> UnitDerivative {
        switch activation {
        case .logistic: .logistic
        case .tanh: .tanh
        case .relu: .rectifiedLinear
        case .linear: .linear
        case .softmax: preconditionFailure("softmax is an output activation only")
        }
    }

    /// x *= f''(z) in terms of y = f(z) (hidden activations only; 0 for linear and relu).
    static func multiplyBySecondDerivative(_ activation: Activation, _ x: UnsafeMutablePointer<Scalar>,
                                           outputs y: UnsafePointer<Scalar>, count: Int) {
        switch activation {
        case .logistic: Scalar.multiplyByLogisticSecondDerivative(x, outputs: y, count: count)
        case .tanh: Scalar.multiplyByTanhSecondDerivative(x, outputs: y, count: count)
        case .relu, .linear: x.update(repeating: 0, count: count)
        case .softmax: preconditionFailure("softmax is an output activation only")
        }
    }

    // MARK: Forward

    /// Forward pass of `rows` cases: input rows x n_0 at `input`; layer l's result goes to
    /// `outputs[l]` (rows x n_l) for l = 1...L. Hidden layers are activated; the output layer
    /// keeps its pre-activations z_L unless `activateOutput` (the loss kernels activate it).
    func forward(parameters: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, rows: Int,
                 outputs: (Int) -> UnsafeMutablePointer<Scalar>, activateOutput: Bool) {
        var previous = MatrixView(base: input, rows: rows, columns: size(0))
        for l in 1...layerCount {
            let layer = layout.layers[l - 1]
            let out = outputs(l)
            // Bias first, then gemm with beta = 1: one pass over z instead of two.
            Scalar.broadcastRow(parameters + layer.biasOffset, into: out, rows: rows, columns: layer.fanOut)
            let z = MutableMatrixView(base: out, rows: rows, columns: layer.fanOut)
            gemm(previous, .none, layout.weights(l, parameters), .none, into: z, alpha: 1, beta: 1)
            if l < layerCount || activateOutput {
                Self.activate(architecture.activations[l - 1], out, rows: rows, columns: layer.fanOut)
            }
            previous = z.readOnly
        }
    }

    /// The matched loss on output pre-activations z (rows x n_L), summed over cases (Double).
    /// Replaces z by the output activations y; writes dL/dz per case to `gradient` if given.
    /// With `errors`, adds the sum of (y - t)^2 there, from the same pass where the loss
    /// kernel allows (cross-entropy and squared error), and counts misclassified rows.
    func outputLoss(_ z: UnsafeMutablePointer<Scalar>, targets: UnsafePointer<Scalar>,
                    gradient: UnsafeMutablePointer<Scalar>?, rows: Int, errors: ErrorTally? = nil) -> Double {
        let n = architecture.outputSize
        switch architecture.loss {
        case .binaryCrossEntropy:
            guard let errors else { return Scalar.logisticCrossEntropy(z, targets: targets, gradient: gradient, count: rows * n) }
            let sums = Scalar.logisticCrossEntropyAndSquaredError(z, targets: targets, gradient: gradient, count: rows * n)
            errors.squaredError += sums.squaredError
            return sums.loss
        case .squaredError:
            // The loss is the sum of squares itself (no 1/2).
            let loss = Scalar.squaredError(z, targets: targets, gradient: gradient, count: rows * n)
            errors?.squaredError += loss
            return loss
        case .multinomialCrossEntropy:
            let loss = Scalar.softmaxCrossEntropy(z, targets: targets, gradient: gradient, rows: rows, columns: n)
            if let errors {
                errors.squaredError += Scalar.squaredDifferenceSum(z, targets, count: rows * n)
                for r in 0..<rows where argmax(z + r * n, n) != argmax(targets + r * n, n) { errors.misclassified += 1 }
            }
            return loss
        }
    }

    /// The output loss Hessian H_L (with respect to z_L) applied to each row of r, in place,
    /// given the output activations y (rows x n_L).
    func multiplyByOutputHessian(_ r: UnsafeMutablePointer<Scalar>, outputs y: UnsafePointer<Scalar>, rows: Int) {
        let n = architecture.outputSize
        switch architecture.loss {
        case .binaryCrossEntropy: Scalar.multiplyByLogisticDerivative(r, outputs: y, count: rows * n)
        case .squaredError: Scalar.scal(n: rows * n, alpha: 2, x: r, incx: 1)
        case .multinomialCrossEntropy: Scalar.multiplyBySoftmaxHessian(r, probabilities: y, rows: rows, columns: n)
        }
    }

    // MARK: Backward

    /// Backpropagates output deltas (rows x n_L, in `workspace.delta`) and accumulates
    /// `scale` times the summed per-case gradient into `gradient` and, if given, `scale` times
    /// the summed per-case squared gradient into `squaredGradient` (for W_l:
    /// (a_{l-1}^2)' (delta_l^2); for b_l: column sums of delta_l^2).
    func backward(parameters: UnsafePointer<Scalar>, input: UnsafePointer<Scalar>, rows: Int,
                  activations: (Int) -> UnsafePointer<Scalar>, workspace: PassWorkspace<Scalar>,
                  scale: Scalar, gradient: UnsafeMutablePointer<Scalar>,
                  squaredGradient: UnsafeMutablePointer<Scalar>?) {
        // The output layer's bias gradient is summed here; every lower layer's is summed by
        // the kernel that forms its delta (one pass over the delta instead of two).
        Scalar.addColumnSums(of: workspace.delta.pointer, rows: rows, columns: layout.layers[layerCount - 1].fanOut,
                             scaledBy: scale, into: gradient + layout.layers[layerCount - 1].biasOffset)
        for l in stride(from: layerCount, through: 1, by: -1) {
            let layer = layout.layers[l - 1]
            let a = l == 1 ? input : activations(l - 1)
            let aView = MatrixView(base: a, rows: rows, columns: layer.fanIn)
            let delta = workspace.delta.pointer
            let deltaView = MatrixView(base: UnsafePointer(delta), rows: rows, columns: layer.fanOut)
            let gW = MutableMatrixView(base: gradient + layer.weightOffset, rows: layer.fanIn, columns: layer.fanOut)
            gemm(aView, .transposed, deltaView, .none, into: gW, alpha: scale, beta: 1)
            if let g2 = squaredGradient {
                let sa = workspace.squaredActivations.pointer, sd = workspace.squaredDelta.pointer
                Scalar.square(a, into: sa, count: rows * layer.fanIn)
                Scalar.square(delta, into: sd, count: rows * layer.fanOut)
                gemm(MatrixView(base: UnsafePointer(sa), rows: rows, columns: layer.fanIn), .transposed,
                     MatrixView(base: UnsafePointer(sd), rows: rows, columns: layer.fanOut), .none,
                     into: MutableMatrixView(base: g2 + layer.weightOffset, rows: layer.fanIn, columns: layer.fanOut),
                     alpha: scale, beta: 1)
                Scalar.addColumnSums(of: sd, rows: rows, columns: layer.fanOut, scaledBy: scale, into: g2 + layer.biasOffset)
            }
            if l > 1 {
                // delta_{l-1} = (delta_l W_l') * f'_{l-1}; never propagated into the inputs.
                let next = workspace.nextDelta.pointer
                gemm(deltaView, .none, layout.weights(l, parameters), .transposed,
                     into: MutableMatrixView(base: next, rows: rows, columns: layer.fanIn))
                let below = layout.layers[l - 2]
                Scalar.multiplyByDerivative(Self.unitDerivative(architecture.activations[l - 2]), next, outputs: a,
                                            rows: rows, columns: layer.fanIn,
                                            addingColumnSumsScaledBy: scale, into: gradient + below.biasOffset)
                swap(&workspace.delta, &workspace.nextDelta)
            }
        }
    }

    // MARK: Chunked passes over a data set

    /// Sums over cases (in chunks of `chunk` cases, in order) of the loss and, when
    /// `gradient` is given, `scale` times the per-case gradients (and squared gradients).
    ///
    /// inputs: total x n_0, targets: total x n_L (row-major, contiguous); `rows` selects cases
    /// (nil: all, in order). `targets == inputs` (the same memory: an auto-encoder) needs no
    /// target gathering. The chunk, not the workspace's capacity, fixes the order of the
    /// sums, so any workspace with room for a chunk gives the same result. Returns the
    /// summed loss.
    func accumulate(parameters: UnsafePointer<Scalar>, inputs: UnsafePointer<Scalar>, targets: UnsafePointer<Scalar>,
                    totalRows: Int, rows selection: [Int]?, workspace: PassWorkspace<Scalar>, chunk: Int,
                    scale: Scalar, gradient: UnsafeMutablePointer<Scalar>?,
                    squaredGradient: UnsafeMutablePointer<Scalar>?, errors: ErrorTally? = nil) -> Double {
        let count = selection?.count ?? totalRows
        let (n0, nL) = (size(0), architecture.outputSize)
        precondition(chunk > 0 && chunk <= workspace.capacity, "chunk of \(chunk) cases, workspace for \(workspace.capacity)")
        precondition(squaredGradient == nil || workspace.squaresCapacity >= min(chunk, count),
                     "the workspace has no room for squared gradients of \(chunk) cases")
        let targetsAreInputs = UnsafeRawPointer(targets) == UnsafeRawPointer(inputs) && n0 == nL
        precondition(selection == nil || targetsAreInputs || workspace.gathersTargets, "the workspace cannot gather targets")
        var loss = 0.0
        var start = 0
        while start < count {
            let rows = min(chunk, count - start)
            let input: UnsafePointer<Scalar>
            let target: UnsafePointer<Scalar>
            if let selection {
                let gi = workspace.activations[0].pointer, gt = workspace.gatheredTargets.pointer
                for r in 0..<rows {
                    let row = selection[start + r]
                    precondition(row >= 0 && row < totalRows, "case index \(row) out of 0..<\(totalRows)")
                    (gi + r * n0).update(from: inputs + row * n0, count: n0)
                    if !targetsAreInputs { (gt + r * nL).update(from: targets + row * nL, count: nL) }
                }
                input = UnsafePointer(gi); target = targetsAreInputs ? input : UnsafePointer(gt)
            } else {
                input = inputs + start * n0; target = targets + start * nL
            }
            forward(parameters: parameters, input: input, rows: rows,
                    outputs: { workspace.activations[$0].pointer }, activateOutput: false)
            let output = workspace.activations[layerCount].pointer
            loss += outputLoss(output, targets: target, gradient: gradient == nil ? nil : workspace.delta.pointer, rows: rows, errors: errors)
            if let gradient {
                backward(parameters: parameters, input: input, rows: rows,
                         activations: { UnsafePointer(workspace.activations[$0].pointer) }, workspace: workspace,
                         scale: scale, gradient: gradient, squaredGradient: squaredGradient)
            }
            start += rows
        }
        return loss
    }
}

/// Sums for the error metrics, filled by a pass over a data set alongside the loss.
final class ErrorTally {
    /// Sum over cases and outputs of (y - t)^2.
    var squaredError = 0.0
    /// Cases whose largest output and largest target differ (softmax outputs only).
    var misclassified = 0
}

/// Weight cost (weightCost / 2) |theta|^2 on all parameters, or on weights only.
struct WeightCost: Sendable {
    let coefficient: Double
    let includesBiases: Bool
    let layout: ParameterLayout

    /// The ranges of the parameter vector the weight cost applies to.
    var ranges: [Range<Int>] {
        if includesBiases { return [0..<layout.parameterCount] }
        return layout.layers.map(\.weightRange)
    }

    /// (weightCost / 2) |theta masked|^2, in Double.
    func value<S: BLASScalar>(_ theta: UnsafePointer<S>) -> Double {
        if coefficient == 0 { return 0 }
        var s = 0.0
        for r in ranges where !r.isEmpty { s += S.dot(n: r.count, x: theta + r.lowerBound, incx: 1, y: theta + r.lowerBound, incy: 1) }
        return 0.5 * coefficient * s
    }

    /// y += weightCost * x on the masked ranges (the regularizer's gradient or curvature).
    func add<S: BLASScalar>(_ x: UnsafePointer<S>, into y: UnsafeMutablePointer<S>) {
        if coefficient == 0 { return }
        for r in ranges where !r.isEmpty {
            S.axpy(n: r.count, alpha: S(coefficient), x: x + r.lowerBound, incx: 1, y: y + r.lowerBound, incy: 1)
        }
    }
}
