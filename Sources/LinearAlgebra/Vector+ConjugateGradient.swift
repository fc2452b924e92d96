/// Fused sweeps for the linear conjugate gradient solver (Optimization).
///
/// CG's vector work after each curvature product is a handful of axpys, an elementwise
/// division by the preconditioner and three dot products. As separate BLAS level-1 calls they
/// read and write the parameter-sized vectors about 24 times per step (0.04 s per step for the
/// 2.8M parameters of the MNIST auto-encoder on one Zen 3 core); this sweep does the same work
/// in about 14. The work is repeated on every rank of a data-parallel run, so it bounds the
/// speed-up (docs/scaling.md).
extension Vector {
    /// One CG step after its product: x += alpha p, r += alpha ap, y = r / m elementwise (y = r
    /// without a preconditioner). Returns r.y, r.x and b.x of the updated vectors, accumulated
    /// in Double.
    public static func conjugateGradientStep(x: inout Vector, r: inout Vector, y: inout Vector,
                                             p: Vector, ap: Vector, alpha: Scalar,
                                             preconditioner m: Vector?, b: Vector) -> (ry: Double, rx: Double, bx: Double) {
        let n = x.count
        precondition(r.count == n && y.count == n && p.count == n && ap.count == n && b.count == n
                     && (m?.count ?? n) == n, "conjugateGradientStep: vector lengths differ")
        if n == 0 { return (0, 0, 0) }
        return x.elements.withUnsafeMutableBufferPointer { xp in
            r.elements.withUnsafeMutableBufferPointer { rp in
                y.elements.withUnsafeMutableBufferPointer { yp in
                    p.elements.withUnsafeBufferPointer { pp in
                        ap.elements.withUnsafeBufferPointer { app in
                            b.elements.withUnsafeBufferPointer { bp in
                                func sweep(_ mp: UnsafePointer<Scalar>?) -> (ry: Double, rx: Double, bx: Double) {
                                    Scalar.conjugateGradientSweep(n: n, alpha: alpha, x: xp.baseAddress!, r: rp.baseAddress!,
                                                                  y: yp.baseAddress!, p: pp.baseAddress!, ap: app.baseAddress!,
                                                                  m: mp, b: bp.baseAddress!)
                                }
                                guard let m else { return sweep(nil) }
                                return m.elements.withUnsafeBufferPointer { sweep($0.baseAddress!) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// self = beta * self - y (CG's new search direction), one sweep.
    public mutating func scale(by beta: Scalar, subtracting y: Vector) {
        precondition(count == y.count, "scale(by:subtracting:): lengths \(y.count) and \(count) differ")
        if count == 0 { return }
        elements.withUnsafeMutableBufferPointer { xp in
            y.elements.withUnsafeBufferPointer { yp in
                Scalar.scaleSubtract(n: xp.count, beta: beta, x: xp.baseAddress!, y: yp.baseAddress!)
            }
        }
    }
}

/// The loop behind `conjugateGradientSweep`, inlined into the concrete Float and Double
/// conformances so that it runs specialized. Four partial sums per dot product keep the
/// Double additions from waiting on each other.
@inline(__always)
func conjugateGradientSweepLoop<S: BLASScalar>(n: Int, alpha: S, x: UnsafeMutablePointer<S>, r: UnsafeMutablePointer<S>,
                                               y: UnsafeMutablePointer<S>, p: UnsafePointer<S>, ap: UnsafePointer<S>,
                                               m: UnsafePointer<S>?, b: UnsafePointer<S>) -> (ry: Double, rx: Double, bx: Double) {
    var ry = SIMD4<Double>(), rx = SIMD4<Double>(), bx = SIMD4<Double>()
    @inline(__always) func element(_ i: Int) -> SIMD3<Double> {
        let xi = x[i] + alpha * p[i]
        let ri = r[i] + alpha * ap[i]
        let yi = m.map { ri / $0[i] } ?? ri
        x[i] = xi; r[i] = ri; y[i] = yi
        let rd = Double(ri), xd = Double(xi)
        return SIMD3(rd * Double(yi), rd * xd, Double(b[i]) * xd)
    }
    var i = 0
    while i + 4 <= n {
        let e0 = element(i), e1 = element(i + 1), e2 = element(i + 2), e3 = element(i + 3)
        ry += SIMD4(e0.x, e1.x, e2.x, e3.x)
        rx += SIMD4(e0.y, e1.y, e2.y, e3.y)
        bx += SIMD4(e0.z, e1.z, e2.z, e3.z)
        i += 4
    }
    var tail = SIMD3<Double>()
    while i < n { tail += element(i); i += 1 }
    return (ry.sum() + tail.x, rx.sum() + tail.y, bx.sum() + tail.z)
}
