#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CKernels

/// Float's two compute-bound kernels run the AVX2 + FMA versions of the CKernels target when
/// the processor has them (checked once); elsewhere the generic Swift kernels run. Splitting
/// over threads is the same as for every other kernel.
extension Float {
    /// Whether the AVX2 + FMA kernels are in use (`HF_NO_AVX2=1` in the environment turns them off,
    /// for comparisons).
    public static let usesAVX2Kernels: Bool = {
        if let value = getenv("HF_NO_AVX2"), String(cString: value) == "1" { return false }
        return hf_avx2_fma_available() != 0
    }()

    public static func logistic(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard usesAVX2Kernels else { return Kernels<Lanes>.logistic(x, count) }
        Kernels<Lanes>.split(count) { start, length in hf_logistic_f32_avx2(x + start, length) }
    }

    public static func logisticCrossEntropy(_ z: UnsafeMutablePointer<Float>, targets t: UnsafePointer<Float>,
                                            gradient: UnsafeMutablePointer<Float>?, count: Int) -> Double {
        crossEntropy(z, t, gradient, count, withSquaredError: false).loss
    }

    public static func logisticCrossEntropyAndSquaredError(_ z: UnsafeMutablePointer<Float>, targets t: UnsafePointer<Float>,
                                                           gradient: UnsafeMutablePointer<Float>?, count: Int) -> (loss: Double, squaredError: Double) {
        crossEntropy(z, t, gradient, count, withSquaredError: true)
    }

    private static func crossEntropy(_ z: UnsafeMutablePointer<Float>, _ t: UnsafePointer<Float>, _ gradient: UnsafeMutablePointer<Float>?,
                                     _ count: Int, withSquaredError: Bool) -> (loss: Double, squaredError: Double) {
        guard usesAVX2Kernels else { return Kernels<Lanes>.logisticCrossEntropy(z, t, gradient, count, withSquaredError: withSquaredError) }
        let sums = Kernels<Lanes>.splitSums(count) { start, length in
            var squares = 0.0
            let loss = withUnsafeMutablePointer(to: &squares) { squaresPointer in
                hf_logistic_cross_entropy_f32_avx2(z + start, t + start, gradient.map { $0 + start }, length,
                                                   withSquaredError ? squaresPointer : nil)
            }
            return (loss, squares)
        }
        return (sums.0, sums.1)
    }
}
