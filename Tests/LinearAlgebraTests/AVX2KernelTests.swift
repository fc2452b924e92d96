import XCTest
import Foundation
@testable import LinearAlgebra

/// The AVX2 + FMA kernels (CKernels) against the portable Swift kernels and Double
/// references. On a processor without AVX2 the public entry points are the Swift kernels and
/// the comparison is trivial; the Double references still hold.
final class AVX2KernelTests: XCTestCase {
    func inputs(_ count: Int, _ range: ClosedRange<Double>, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(range.lowerBound + (range.upperBound - range.lowerBound) * g.uniform()) }
    }

    func testLogisticMatchesSwiftKernelAndDouble() {
        // 10003: odd tail; the edge values saturate, and NaN must come through.
        var z = inputs(10_003, -30...30, seed: 1) + [0, -0.0, 88, -88, 200, -200, .infinity, -.infinity]
        let count = z.count
        var portable = z
        let original = z
        z.withUnsafeMutableBufferPointer { Float.logistic($0.baseAddress!, count: count) }
        portable.withUnsafeMutableBufferPointer { Kernels<SIMD8<Float>>.logistic($0.baseAddress!, count) }
        for i in 0..<count {
            let reference = 1 / (1 + Foundation.exp(-Double(original[i])))
            XCTAssertEqual(Double(z[i]), reference, accuracy: 4 * 0x1p-24, "z = \(original[i])")
            XCTAssertEqual(z[i], portable[i], accuracy: 4 * 0x1p-24)
        }
        var nan: [Float] = [.nan, 1, 2, 3, 4, 5, 6, 7, .nan]
        nan.withUnsafeMutableBufferPointer { Float.logistic($0.baseAddress!, count: 9) }
        XCTAssertTrue(nan[0].isNaN && nan[8].isNaN, "a NaN input must give NaN (the non-finite guards rely on it)")
    }

    func testCrossEntropyMatchesSwiftKernelAndDouble() {
        for count in [5, 8, 4099, 100_003] {
            let z = inputs(count, -20...20, seed: UInt64(count)), t = inputs(count, 0...1, seed: UInt64(count + 7))
            var y = z, portableY = z
            var g = [Float](repeating: 0, count: count), portableG = g
            let fused = y.withUnsafeMutableBufferPointer { yp in
                g.withUnsafeMutableBufferPointer {
                    Float.logisticCrossEntropyAndSquaredError(yp.baseAddress!, targets: t, gradient: $0.baseAddress!, count: count)
                }
            }
            let portable = portableY.withUnsafeMutableBufferPointer { yp in
                portableG.withUnsafeMutableBufferPointer {
                    Kernels<SIMD8<Float>>.logisticCrossEntropy(yp.baseAddress!, t, $0.baseAddress!, count, withSquaredError: true)
                }
            }
            var loss = 0.0, squares = 0.0
            for i in 0..<count {
                let zi = Double(z[i]), ti = Double(t[i])
                let yi = 1 / (1 + Foundation.exp(-zi))
                loss += max(zi, 0) - ti * zi + Foundation.log1p(Foundation.exp(-abs(zi)))
                squares += (yi - ti) * (yi - ti)
                XCTAssertEqual(Double(y[i]), yi, accuracy: 4 * 0x1p-24)
                XCTAssertEqual(y[i], portableY[i], accuracy: 4 * 0x1p-24)
                XCTAssertEqual(g[i], portableG[i], accuracy: 8 * 0x1p-24)
            }
            XCTAssertEqual(fused.loss, loss, accuracy: 1e-6 * loss, "count \(count)")
            XCTAssertEqual(fused.squaredError, squares, accuracy: 1e-6 * squares, "count \(count)")
            XCTAssertEqual(fused.loss, portable.loss, accuracy: 1e-6 * loss)
            XCTAssertEqual(fused.squaredError, portable.squaredError, accuracy: 1e-6 * squares)
            var plainY = z
            let plain = plainY.withUnsafeMutableBufferPointer { Float.logisticCrossEntropy($0.baseAddress!, targets: t, gradient: nil, count: count) }
            XCTAssertEqual(plain, fused.loss)
            XCTAssertEqual(plainY, y)
        }
        var z: [Float] = [1, .nan, 2]
        let loss = z.withUnsafeMutableBufferPointer { Float.logisticCrossEntropy($0.baseAddress!, targets: [0, 0, 1], gradient: nil, count: 3) }
        XCTAssertTrue(loss.isNaN, "a NaN pre-activation must make the loss NaN")
    }

    func testProcessorSupportIsReported() {
        // On this project's x86-64 machines AVX2 is present; the check itself must not crash
        // and must agree with what the kernels use.
        XCTAssertEqual(Float.usesAVX2Kernels, ProcessInfo.processInfo.environment["HF_NO_AVX2"] != "1" && hf_avx2_fma_available_for_tests())
    }
}

import CKernels
private func hf_avx2_fma_available_for_tests() -> Bool { hf_avx2_fma_available() != 0 }
