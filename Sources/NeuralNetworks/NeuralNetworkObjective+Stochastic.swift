import LinearAlgebra
import Optimization

extension NeuralNetworkObjective {
    /// The regularization term (weightCost / 2) |theta|^2 of the objective, on the parameters
    /// it applies to (all, or weights only).
    public func regularization(at parameters: Vector<Scalar>) -> Double {
        parameters.elements.withUnsafeBufferPointer { regularizer.value($0.baseAddress!) }
    }
}

extension NeuralNetworkObjective: StochasticObjective {
    /// Mean loss over the selected cases plus the weight cost, and its gradient: what the
    /// mini-batch baselines (SGD, Adam, H&S's nonlinear-CG fine-tuning) step on. `.all` is
    /// the full-data evaluation; `.indices` are global cases, chunked like every other pass,
    /// each process summing those it holds before the sums are added across shards.
    public func valueAndGradient(at parameters: Vector<Scalar>, cases: CaseSelection) throws -> (value: Double, gradient: Vector<Scalar>) {
        guard case .indices(let selection) = cases else {
            let e = try evaluate(at: parameters, squaredGradientDiagonal: false)
            return (e.value, e.gradient)
        }
        precondition(parameters.count == parameterCount, "expected \(parameterCount) parameters, got \(parameters.count)")
        guard !selection.isEmpty, selection.allSatisfy({ $0 >= 0 && $0 < globalCaseCount }) else {
            throw ObjectiveError.shapeMismatch("a mini-batch needs case indices in 0..<\(globalCaseCount), got \(selection.count) cases")
        }
        let local = try localRows(selection)
        var gradient = Vector<Scalar>(zeros: parameterCount)
        let ws = fullDataWorkspace(squares: false)
        var loss = local.isEmpty ? 0 : parameters.elements.withUnsafeBufferPointer { theta in
            inputs.storage.withUnsafeBufferPointer { x in
                targets.storage.withUnsafeBufferPointer { t in
                    gradient.elements.withUnsafeMutableBufferPointer { g in
                        passes.accumulate(parameters: theta.baseAddress!, inputs: x.baseAddress!, targets: t.baseAddress!,
                                          totalRows: inputs.rows, rows: local, workspace: ws, chunk: fullDataChunk,
                                          scale: Scalar(1.0 / Double(selection.count)),
                                          gradient: g.baseAddress!, squaredGradient: nil)
                    }
                }
            }
        }
        loss = reducer.sumAcrossShards(loss)
        reducer.sumAcrossShards(&gradient)
        let value = parameters.elements.withUnsafeBufferPointer { theta in
            gradient.elements.withUnsafeMutableBufferPointer { g in
                regularizer.add(theta.baseAddress!, into: g.baseAddress!)
                return loss / Double(selection.count) + regularizer.value(theta.baseAddress!)
            }
        }
        guard gradient.squaredNorm.isFinite else { throw ObjectiveError.nonFiniteGradient }
        return (value, gradient)
    }
}
