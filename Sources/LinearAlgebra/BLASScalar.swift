import CBLAS

/// Transposition flag for the BLAS wrappers.
public enum Transpose: Sendable {
    case none, transposed
    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// A floating-point type that BLAS can work on: `Float` (training) or `Double` (checks).
///
/// Every routine takes raw pointers with explicit lengths, strides and leading dimensions;
/// the typed wrappers in `Vector` and `Matrix` check shapes before calling them.
/// Reductions (`dot`, `norm`) accumulate in Double whatever the storage type.
public protocol BLASScalar: BinaryFloatingPoint, Codable, Sendable, SIMDScalar
where Self.RawSignificand: FixedWidthInteger {
    /// Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) m x k and op(B) k x n.
    static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Row-major y = alpha * op(A) x + beta * y, A stored m x n.
    static func gemv(_ transA: Transpose, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     x: UnsafePointer<Self>, incx: Int, beta: Self, y: UnsafeMutablePointer<Self>, incy: Int)
    /// y += alpha * x
    static func axpy(n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int, y: UnsafeMutablePointer<Self>, incy: Int)
    /// x *= alpha
    static func scal(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>, incx: Int)
    /// x . y accumulated in Double.
    static func dot(n: Int, x: UnsafePointer<Self>, incx: Int, y: UnsafePointer<Self>, incy: Int) -> Double
    /// Euclidean norm, computed in Double.
    static func nrm2(n: Int, x: UnsafePointer<Self>, incx: Int) -> Double
    /// x[i] *= y[i] and x[i] /= y[i] for i < n. Concrete loops per scalar type: generic code
    /// (CG's preconditioner, once per step on every parameter) would otherwise pay a witness
    /// call per element, about 50 ns, 0.14 s per step on the MNIST auto-encoder.
    static func multiply(n: Int, x: UnsafeMutablePointer<Self>, by y: UnsafePointer<Self>)
    static func divide(n: Int, x: UnsafeMutablePointer<Self>, by y: UnsafePointer<Self>)
    /// The vector work of one CG step after its product, one sweep instead of nine BLAS
    /// calls (Vector+ConjugateGradient.swift): x += alpha p, r += alpha ap, y = r / m (y = r
    /// when `m` is nil), returning r.y, r.x and b.x of the updated vectors in Double.
    static func conjugateGradientSweep(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>, r: UnsafeMutablePointer<Self>,
                                       y: UnsafeMutablePointer<Self>, p: UnsafePointer<Self>, ap: UnsafePointer<Self>,
                                       m: UnsafePointer<Self>?, b: UnsafePointer<Self>) -> (ry: Double, rx: Double, bx: Double)
    /// x[i] = beta x[i] - y[i] for i < n (CG's new search direction).
    static func scaleSubtract(n: Int, beta: Self, x: UnsafeMutablePointer<Self>, y: UnsafePointer<Self>)
    /// True when x[i] is neither infinite nor NaN for every i < n. A concrete loop per type,
    /// as above: the generic `allSatisfy { $0.isFinite }` it replaces made witness calls per
    /// element, 42% of an Adam step on the MNIST auto-encoder (AMD EPYC Zen 1, 2026-12-04).
    static func allFinite(n: Int, x: UnsafePointer<Self>) -> Bool
    /// A short name used in reports ("float32" / "float64").
    static var typeName: String { get }
}

@inline(__always) private func i32(_ v: Int) -> Int32 {
    precondition(v >= 0 && v <= Int(Int32.max), "BLAS dimension \(v) out of range")
    return Int32(v)
}

extension Float: BLASScalar {
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, i32(m), i32(n), i32(k), alpha,
                    a, i32(max(lda, 1)), b, i32(max(ldb, 1)), beta, c, i32(max(ldc, 1)))
    }
    public static func gemv(_ transA: Transpose, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, incx: Int, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemv(CblasRowMajor, transA.cblas, i32(m), i32(n), alpha, a, i32(max(lda, 1)), x, i32(incx), beta, y, i32(incy))
    }
    public static func axpy(n: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int, y: UnsafeMutablePointer<Float>, incy: Int) {
        cblas_saxpy(i32(n), alpha, x, i32(incx), y, i32(incy))
    }
    public static func scal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>, incx: Int) {
        cblas_sscal(i32(n), alpha, x, i32(incx))
    }
    public static func dot(n: Int, x: UnsafePointer<Float>, incx: Int, y: UnsafePointer<Float>, incy: Int) -> Double {
        // dsdot: single-precision inputs, double-precision accumulation.
        cblas_dsdot(i32(n), x, i32(incx), y, i32(incy))
    }
    public static func nrm2(n: Int, x: UnsafePointer<Float>, incx: Int) -> Double {
        cblas_dsdot(i32(n), x, i32(incx), x, i32(incx)).squareRoot()
    }
    public static func multiply(n: Int, x: UnsafeMutablePointer<Float>, by y: UnsafePointer<Float>) {
        for i in 0..<n { x[i] *= y[i] }
    }
    public static func divide(n: Int, x: UnsafeMutablePointer<Float>, by y: UnsafePointer<Float>) {
        for i in 0..<n { x[i] /= y[i] }
    }
    public static func conjugateGradientSweep(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>, r: UnsafeMutablePointer<Float>,
                                              y: UnsafeMutablePointer<Float>, p: UnsafePointer<Float>, ap: UnsafePointer<Float>,
                                              m: UnsafePointer<Float>?, b: UnsafePointer<Float>) -> (ry: Double, rx: Double, bx: Double) {
        conjugateGradientSweepLoop(n: n, alpha: alpha, x: x, r: r, y: y, p: p, ap: ap, m: m, b: b)
    }
    public static func scaleSubtract(n: Int, beta: Float, x: UnsafeMutablePointer<Float>, y: UnsafePointer<Float>) {
        for i in 0..<n { x[i] = beta * x[i] - y[i] }
    }
    public static func allFinite(n: Int, x: UnsafePointer<Float>) -> Bool {
        // |x| as bits: infinity and NaN have every exponent bit set, and only they reach
        // 0x7f800000. A max reduction, without branches, so the loop vectorizes.
        x.withMemoryRebound(to: UInt32.self, capacity: n) { bits in
            var largest: UInt32 = 0
            for i in 0..<n { largest = max(largest, bits[i] & 0x7fff_ffff) }
            return largest < 0x7f80_0000
        }
    }
    public static var typeName: String { "float32" }
}

extension Double: BLASScalar {
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, transA.cblas, transB.cblas, i32(m), i32(n), i32(k), alpha,
                    a, i32(max(lda, 1)), b, i32(max(ldb, 1)), beta, c, i32(max(ldc, 1)))
    }
    public static func gemv(_ transA: Transpose, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            x: UnsafePointer<Double>, incx: Int, beta: Double, y: UnsafeMutablePointer<Double>, incy: Int) {
        if m == 0 || n == 0 { return }
        cblas_dgemv(CblasRowMajor, transA.cblas, i32(m), i32(n), alpha, a, i32(max(lda, 1)), x, i32(incx), beta, y, i32(incy))
    }
    public static func axpy(n: Int, alpha: Double, x: UnsafePointer<Double>, incx: Int, y: UnsafeMutablePointer<Double>, incy: Int) {
        cblas_daxpy(i32(n), alpha, x, i32(incx), y, i32(incy))
    }
    public static func scal(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>, incx: Int) {
        cblas_dscal(i32(n), alpha, x, i32(incx))
    }
    public static func dot(n: Int, x: UnsafePointer<Double>, incx: Int, y: UnsafePointer<Double>, incy: Int) -> Double {
        cblas_ddot(i32(n), x, i32(incx), y, i32(incy))
    }
    public static func nrm2(n: Int, x: UnsafePointer<Double>, incx: Int) -> Double {
        cblas_dnrm2(i32(n), x, i32(incx))
    }
    public static func multiply(n: Int, x: UnsafeMutablePointer<Double>, by y: UnsafePointer<Double>) {
        for i in 0..<n { x[i] *= y[i] }
    }
    public static func divide(n: Int, x: UnsafeMutablePointer<Double>, by y: UnsafePointer<Double>) {
        for i in 0..<n { x[i] /= y[i] }
    }
    public static func conjugateGradientSweep(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>, r: UnsafeMutablePointer<Double>,
                                              y: UnsafeMutablePointer<Double>, p: UnsafePointer<Double>, ap: UnsafePointer<Double>,
                                              m: UnsafePointer<Double>?, b: UnsafePointer<Double>) -> (ry: Double, rx: Double, bx: Double) {
        conjugateGradientSweepLoop(n: n, alpha: alpha, x: x, r: r, y: y, p: p, ap: ap, m: m, b: b)
    }
    public static func scaleSubtract(n: Int, beta: Double, x: UnsafeMutablePointer<Double>, y: UnsafePointer<Double>) {
        for i in 0..<n { x[i] = beta * x[i] - y[i] }
    }
    public static func allFinite(n: Int, x: UnsafePointer<Double>) -> Bool {
        x.withMemoryRebound(to: UInt64.self, capacity: n) { bits in
            var largest: UInt64 = 0
            for i in 0..<n { largest = max(largest, bits[i] & 0x7fff_ffff_ffff_ffff) }
            return largest < 0x7ff0_0000_0000_0000
        }
    }
    public static var typeName: String { "float64" }
}

/// Threads OpenBLAS may use (0 or less: leave OpenBLAS's default).
public enum BLASThreads {
    public static func set(_ count: Int) { if count > 0 { openblas_set_num_threads(Int32(count)) } }
    public static var current: Int { Int(openblas_get_num_threads()) }
}
