import LinearAlgebra
import Optimization

/// Numerical checks of an objective's derivatives, for tests, a `check` command and debug
/// runs. They work on any `HFObjective` in Double (the precision where finite differences
/// mean something) and return errors scaled as max |a - b| / (1 + max |b|), b the reference.
public enum DerivativeChecks {
    /// Gradient against central differences of the full-data value with step `step`, on the
    /// parameters `indices` (all when nil). Costs two full-data values per index.
    public static func gradientError<Objective: HFObjective>(
        of objective: Objective, at parameters: Vector<Double>, indices: [Int]? = nil, step: Double = 1e-5
    ) throws -> Double where Objective.Scalar == Double {
        let gradient = try objective.evaluate(at: parameters, squaredGradientDiagonal: false).gradient
        let checked = indices ?? Array(0..<parameters.count)
        var computed: [Double] = [], reference: [Double] = []
        var shifted = parameters
        for k in checked {
            shifted[k] = parameters[k] + step
            let plus = objective.value(at: shifted, cases: .all)
            shifted[k] = parameters[k] - step
            let minus = objective.value(at: shifted, cases: .all)
            shifted[k] = parameters[k]
            computed.append(gradient[k])
            reference.append((plus - minus) / (2 * step))
        }
        return scaledError(computed, reference)
    }

    /// A curvature product B v against central differences of the gradient along v (exact
    /// for the Hessian; for Gauss-Newton or Fisher it measures how far they are from H).
    /// Uses the full data set; `curvature` must have been built on `.all`.
    public static func curvatureProductError<Objective: HFObjective>(
        of objective: Objective, curvature: any CurvatureOperator<Double>, at parameters: Vector<Double>,
        direction v: Vector<Double>, step: Double = 1e-5
    ) throws -> Double where Objective.Scalar == Double {
        var product = Vector<Double>(zeros: v.count)
        curvature.apply(v, into: &product)
        var plus = parameters, minus = parameters
        plus.add(v, scaledBy: step); minus.add(v, scaledBy: -step)
        var difference = try objective.evaluate(at: plus, squaredGradientDiagonal: false).gradient
        difference.add(try objective.evaluate(at: minus, squaredGradientDiagonal: false).gradient, scaledBy: -1)
        difference.scale(by: 1 / (2 * step))
        return scaledError(product.elements, difference.elements)
    }

    /// |u'Bw - w'Bu| / (1 + |u'Bw|): zero for a symmetric B up to rounding.
    public static func asymmetry(of curvature: any CurvatureOperator<Double>, _ u: Vector<Double>, _ w: Vector<Double>) -> Double {
        var bu = Vector<Double>(zeros: u.count), bw = Vector<Double>(zeros: w.count)
        curvature.apply(u, into: &bu)
        curvature.apply(w, into: &bw)
        let (uBw, wBu) = (u.dot(bw), w.dot(bu))
        return abs(uBw - wBu) / (1 + abs(uBw))
    }

    /// max |a - b| / (1 + max |b|).
    public static func scaledError(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "scaledError: lengths \(a.count) and \(b.count) differ")
        var worst = 0.0, scale = 0.0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)); scale = max(scale, abs(y)) }
        return worst / (1 + scale)
    }
}
