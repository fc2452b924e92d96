/// A check that the BLAS gemm kernels in use compute correctly: sgemm and dgemm at odd sizes,
/// with every combination of transpositions, padded leading dimensions and alpha, beta not 0 or
/// 1, against a plain loop in Double.
///
/// Some OpenBLAS builds give wrong results or crash with a forced core on some processors; this
/// is what `hf` runs (in a child process) before it switches cores. Sizes are odd and not
/// multiples of any kernel's block, so edge handling runs in both dimensions.
public enum GEMMCheck {
    /// m, n, k of op(A) (m x k) times op(B) (k x n).
    public static let m = 67, n = 45, k = 129
    /// Extra columns in every stored matrix, so that leading dimensions exceed widths; the
    /// padding of C must come back untouched.
    public static let padding = 3
    /// alpha and beta of C = alpha op(A) op(B) + beta C.
    public static let alpha = 0.75, beta = -0.5
    /// Value of C's padding elements, which gemm must not write.
    static let sentinel = 1234.5

    /// A gemm with `BLASScalar.gemm`'s signature (row-major).
    public typealias Kernel<S> = (Transpose, Transpose, Int, Int, Int, S, UnsafePointer<S>, Int,
                                  UnsafePointer<S>, Int, S, UnsafeMutablePointer<S>, Int) -> Void

    /// One product that failed.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public var scalar: String
        public var transA: Transpose
        public var transB: Transpose
        /// Largest |C - reference| over the scale of its element (see `check`); infinite when
        /// an element is not finite or the padding was written.
        public var worstError: Double
        public var tolerance: Double

        public var description: String {
            func t(_ x: Transpose) -> String { x == .none ? "N" : "T" }
            return "\(scalar == "float32" ? "sgemm" : "dgemm") \(t(transA))\(t(transB)) \(m)x\(n)x\(k): error \(worstError) over tolerance \(tolerance)"
        }
    }

    /// sgemm and dgemm of this process's BLAS, all four transposition pairs; empty when all pass.
    public static func run() -> [Failure] {
        check(Float.self, gemm: Float.gemm) + check(Double.self, gemm: Double.gemm)
    }

    /// Checks `gemm` for the four transposition pairs.
    ///
    /// Element (i, j) passes when |C_ij - R_ij| <= tolerance * (|alpha| sum_p |A_ip B_pj| + |beta C0_ij|),
    /// R computed in Double. A k-term dot product in floating point is within about k u of
    /// that scale (u = ulp / 2); tolerance (k + 2) ulp leaves room for the order of summation
    /// and for alpha and beta, while a wrong kernel is off by O(1).
    public static func check<S: BLASScalar>(_: S.Type, gemm: Kernel<S>) -> [Failure] {
        var generator = SeededGenerator(seed: 20_100_601)
        func values(_ count: Int) -> [S] { (0..<count).map { _ in S(2 * generator.uniform() - 1) } }
        let tolerance = Double(k + 2) * Double(S.ulpOfOne)
        var failures: [Failure] = []
        for transA in [Transpose.none, .transposed] {
            for transB in [Transpose.none, .transposed] {
                // Stored shapes: A is m x k (k x m transposed), B is k x n (n x k transposed).
                let (aRows, aColumns) = transA == .none ? (m, k) : (k, m)
                let (bRows, bColumns) = transB == .none ? (k, n) : (n, k)
                let lda = aColumns + padding, ldb = bColumns + padding, ldc = n + padding
                let a = values(aRows * lda), b = values(bRows * ldb)
                var c = values(m * ldc)
                for i in 0..<m { for j in n..<ldc { c[i * ldc + j] = S(sentinel) } }
                let c0 = c
                func opA(_ i: Int, _ p: Int) -> Double { Double(transA == .none ? a[i * lda + p] : a[p * lda + i]) }
                func opB(_ p: Int, _ j: Int) -> Double { Double(transB == .none ? b[p * ldb + j] : b[j * ldb + p]) }
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            gemm(transA, transB, m, n, k, S(alpha), ap.baseAddress!, lda, bp.baseAddress!, ldb,
                                 S(beta), cp.baseAddress!, ldc)
                        }
                    }
                }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<ldc {
                        let got = Double(c[i * ldc + j])
                        if j >= n {
                            if got != sentinel { worst = .infinity }
                            continue
                        }
                        var sum = 0.0, scale = 0.0
                        for p in 0..<k {
                            let term = opA(i, p) * opB(p, j)
                            sum += term
                            scale += abs(term)
                        }
                        let initial = Double(c0[i * ldc + j])
                        let reference = alpha * sum + beta * initial
                        let error = abs(got - reference) / (abs(alpha) * scale + abs(beta * initial))
                        worst = got.isFinite && !error.isNaN ? max(worst, error) : .infinity
                    }
                }
                if !(worst <= tolerance) {
                    failures.append(Failure(scalar: S.typeName, transA: transA, transB: transB, worstError: worst, tolerance: tolerance))
                }
            }
        }
        return failures
    }
}
