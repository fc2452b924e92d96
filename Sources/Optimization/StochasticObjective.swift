import LinearAlgebra

/// An objective whose value and gradient can be computed on a subset of the training cases:
/// what stochastic and mini-batch first-order methods (SGD, Adam, the mini-batch nonlinear-CG
/// fine-tuning of Hinton & Salakhutdinov 2006) need in addition to `HFObjective`.
public protocol StochasticObjective<Scalar>: HFObjective {
    /// Mean per-case loss over `cases` plus regularization, and its gradient.
    func valueAndGradient(at parameters: Vector<Scalar>, cases: CaseSelection) throws -> (value: Double, gradient: Vector<Scalar>)
}
