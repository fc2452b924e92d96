#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CKernels

/// The vector instruction set of Float's elementwise kernels.
public enum ElementwiseISA: String, Sendable {
    /// The generic Swift kernels (`SIMD8<Float>`, compiled for the x86-64 baseline, SSE2).
    case swiftSIMD = "swift-simd"
    /// CKernels at 8 lanes, AVX2 + FMA.
    case avx2 = "avx2+fma"
    /// CKernels at 16 lanes, AVX-512 F/DQ/BW/VL.
    case avx512 = "avx512"

    /// The widest set this processor supports, unless the environment turns it down:
    /// `HF_NO_AVX512=1` keeps AVX2, `HF_NO_AVX2=1` keeps the Swift kernels.
    static func chosen(environment: (String) -> String?) -> ElementwiseISA {
        if environment("HF_NO_AVX2") == "1" || hf_avx2_fma_available() == 0 { return .swiftSIMD }
        if environment("HF_NO_AVX512") == "1" || hf_avx512_available() == 0 { return .avx2 }
        return .avx512
    }
}

/// Float's compute-bound kernels and the memory-bound ones of the gradient and curvature
/// passes (logistic units and their derivatives, the logistic cross-entropy and the squared
/// error, squares, column sums and the fused backward step) run the CKernels versions of the
/// widest instruction set in `elementwiseISA`; elsewhere the generic Swift kernels run.
/// Splitting over threads is the same as for every other kernel.
extension Float {
    /// The instruction set of the kernels in use, chosen once per process.
    public static let elementwiseISA: ElementwiseISA = .chosen { name in getenv(name).map { String(cString: $0) } }

    /// The CKernels table in use, nil for the Swift kernels.
    nonisolated(unsafe) static let cKernels: UnsafePointer<hf_float_kernels>? = kernels(for: elementwiseISA)

    static func kernels(for isa: ElementwiseISA) -> UnsafePointer<hf_float_kernels>? {
        switch isa {
        case .swiftSIMD: return nil
        case .avx2: return hf_float_kernels_for(HF_ISA_AVX2)
        case .avx512: return hf_float_kernels_for(HF_ISA_AVX512)
        }
    }

    public static func logistic(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.logistic(x, count) }
        Kernels<Lanes>.split(count, alignment: Int(k.lanes)) { start, length in k.logistic(x + start, length) }
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
        guard let k = cKernels?.pointee else {
            return Kernels<Lanes>.logisticCrossEntropy(z, t, gradient, count, withSquaredError: withSquaredError)
        }
        let sums = Kernels<Lanes>.splitSums(count, alignment: Int(k.lanes)) { start, length in
            var squares = 0.0
            let loss = withUnsafeMutablePointer(to: &squares) { squaresPointer in
                k.logistic_cross_entropy(z + start, t + start, gradient.map { $0 + start }, length,
                                         withSquaredError ? squaresPointer : nil)
            }
            return (loss, squares)
        }
        return (sums.0, sums.1)
    }

    public static func squaredError(_ y: UnsafePointer<Float>, targets t: UnsafePointer<Float>,
                                    gradient: UnsafeMutablePointer<Float>?, count: Int) -> Double {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.squaredError(y, t, gradient, count) }
        return Kernels<Lanes>.splitSum(count, alignment: Int(k.lanes)) { start, length in
            k.squared_error(y + start, t + start, gradient.map { $0 + start }, length)
        }
    }

    public static func squaredDifferenceSum(_ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>, count: Int) -> Double {
        squaredError(y, targets: t, gradient: nil, count: count)
    }

    public static func multiplyByLogisticDerivative(_ x: UnsafeMutablePointer<Float>, outputs y: UnsafePointer<Float>, count: Int) {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.zip(x, y, count) { $0 * ($1 * (1 - $1)) } }
        Kernels<Lanes>.split(count, alignment: Int(k.lanes)) { start, length in k.multiply_logistic_derivative(x + start, y + start, length) }
    }

    public static func multiplyByLogisticSecondDerivative(_ x: UnsafeMutablePointer<Float>, outputs y: UnsafePointer<Float>, count: Int) {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.zip(x, y, count) { $0 * ($1 * (1 - $1) * (1 - 2 * $1)) } }
        Kernels<Lanes>.split(count, alignment: Int(k.lanes)) { start, length in
            k.multiply_logistic_second_derivative(x + start, y + start, length)
        }
    }

    public static func square(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.square(source, destination, count) }
        Kernels<Lanes>.split(count, alignment: Int(k.lanes)) { start, length in k.square(source + start, destination + start, length) }
    }

    public static func addColumnSums(of matrix: UnsafePointer<Float>, rows: Int, columns: Int, scaledBy alpha: Float,
                                     into sums: UnsafeMutablePointer<Float>) {
        guard let k = cKernels?.pointee else { return Kernels<Lanes>.addColumnSums(matrix, rows, columns, alpha, sums) }
        // Threads take disjoint column strips; each column is added in row order.
        Kernels<Lanes>.split(columns, alignment: 4 * Int(k.lanes), work: rows * columns) { start, width in
            k.add_column_sums(matrix + start, rows, width, columns, alpha, sums + start)
        }
    }

    public static func multiplyByDerivative(_ derivative: UnitDerivative, _ x: UnsafeMutablePointer<Float>, outputs y: UnsafePointer<Float>,
                                            rows: Int, columns: Int, addingColumnSumsScaledBy alpha: Float, into sums: UnsafeMutablePointer<Float>) {
        guard let k = cKernels?.pointee else {
            return Kernels<Lanes>.multiplyByDerivative(derivative, x, y, rows, columns, alpha, sums)
        }
        switch derivative {
        case .logistic:
            Kernels<Lanes>.split(columns, alignment: Int(k.lanes), work: rows * columns) { start, width in
                k.logistic_derivative_column_sums(x + start, y + start, rows, width, columns, alpha, sums + start)
            }
        case .linear: addColumnSums(of: x, rows: rows, columns: columns, scaledBy: alpha, into: sums)
        case .tanh, .rectifiedLinear: Kernels<Lanes>.multiplyByDerivative(derivative, x, y, rows, columns, alpha, sums)
        }
    }
}
