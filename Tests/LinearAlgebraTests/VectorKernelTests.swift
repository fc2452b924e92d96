import XCTest
import Foundation
import CKernels
@testable import LinearAlgebra

/// The C kernels (CKernels: AVX2 + FMA at 8 lanes, AVX-512 at 16) against the portable Swift
/// kernels and Double references, with odd tails, saturation and NaN.
///
/// Every table this processor can run is checked: AVX2, the AVX-512 source compiled at 16
/// lanes for AVX2 (the AVX-512 kernels' arithmetic, bit for bit, on any AVX2 machine) and,
/// where the processor has it, AVX-512 itself, which must then equal the 16-lane AVX2 build
/// bit for bit. Without AVX2 there is no table to check and the tests say so.
final class VectorKernelTests: XCTestCase {
    typealias SwiftKernels = Kernels<SIMD8<Float>>

    /// The tables to check, by name; AVX-512 only where the processor runs it.
    var tables: [(name: String, kernels: hf_float_kernels)] {
        var result = [(String, hf_float_kernels)]()
        if let k = hf_float_kernels_for(HF_ISA_AVX2) { result.append(("avx2", k.pointee)) }
        if let k = hf_float_kernels_for(HF_ISA_AVX512_ON_AVX2) { result.append(("avx512-source-on-avx2", k.pointee)) }
        if let k = hf_float_kernels_for(HF_ISA_AVX512) { result.append(("avx512", k.pointee)) }
        return result
    }

    func inputs(_ count: Int, _ range: ClosedRange<Double>, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(range.lowerBound + (range.upperBound - range.lowerBound) * g.uniform()) }
    }

    /// Element counts around every vector and block boundary of 8 and 16 lanes.
    let counts = [1, 7, 8, 9, 15, 16, 17, 31, 33, 511, 513, 1023, 1025, 10_003]

    func testTablesMatchTheProcessor() throws {
        let cpu = ProcessorFeatures.current
        XCTAssertEqual(hf_float_kernels_for(HF_ISA_AVX2) != nil, cpu.avx2 && cpu.fma)
        XCTAssertEqual(hf_float_kernels_for(HF_ISA_AVX512) != nil,
                       cpu.avx2 && cpu.fma && cpu.avx512f && cpu.avx512dq && cpu.avx512bw && cpu.avx512vl)
        XCTAssertEqual(hf_float_kernels_for(HF_ISA_AVX2)?.pointee.lanes, cpu.avx2 && cpu.fma ? 8 : nil)
        XCTAssertEqual(hf_float_kernels_for(HF_ISA_AVX512_ON_AVX2)?.pointee.lanes, cpu.avx2 && cpu.fma ? 16 : nil)
        let environment = ProcessInfo.processInfo.environment
        let expected: ElementwiseISA = environment["HF_NO_AVX2"] == "1" || !(cpu.avx2 && cpu.fma) ? .swiftSIMD
            : environment["HF_NO_AVX512"] == "1" || hf_avx512_available() == 0 ? .avx2 : .avx512
        XCTAssertEqual(Float.elementwiseISA, expected)
        // The environment switches, read through a stand-in environment.
        XCTAssertEqual(ElementwiseISA.chosen { $0 == "HF_NO_AVX2" ? "1" : nil }, .swiftSIMD)
        let withoutAVX512 = ElementwiseISA.chosen { $0 == "HF_NO_AVX512" ? "1" : nil }
        XCTAssertEqual(withoutAVX512, cpu.avx2 && cpu.fma ? .avx2 : .swiftSIMD)
        if tables.isEmpty { throw XCTSkip("no AVX2 on this processor: only the Swift kernels run") }
    }

    func testLogisticMatchesSwiftKernelAndDouble() throws {
        guard !tables.isEmpty else { throw XCTSkip("no AVX2 on this processor") }
        // Odd tails; the edge values saturate; -0 and the infinities.
        let base = inputs(10_003, -30...30, seed: 1) + [0, -0.0, 88, -88, 200, -200, .infinity, -.infinity]
        for (name, k) in tables {
            for count in counts + [base.count] {
                var z = Array(base.suffix(count))
                let original = z
                var portable = z
                z.withUnsafeMutableBufferPointer { k.logistic($0.baseAddress!, count) }
                portable.withUnsafeMutableBufferPointer { SwiftKernels.logistic($0.baseAddress!, count) }
                for i in 0..<count {
                    let reference = 1 / (1 + Foundation.exp(-Double(original[i])))
                    XCTAssertEqual(Double(z[i]), reference, accuracy: 4 * 0x1p-24, "\(name): z = \(original[i])")
                    XCTAssertEqual(z[i], portable[i], accuracy: 4 * 0x1p-24, name)
                }
            }
            var nan: [Float] = [.nan] + (1...15).map(Float.init) + [.nan, 3, .nan]
            nan.withUnsafeMutableBufferPointer { k.logistic($0.baseAddress!, $0.count) }
            XCTAssertTrue(nan[0].isNaN && nan[16].isNaN && nan[18].isNaN, "\(name): a NaN input must give NaN (the non-finite guards rely on it)")
            XCTAssertFalse(nan[1].isNaN || nan[17].isNaN, name)
        }
    }

    func testCrossEntropyMatchesSwiftKernelAndDouble() throws {
        guard !tables.isEmpty else { throw XCTSkip("no AVX2 on this processor") }
        for (name, k) in tables {
            for count in counts + [100_003] {
                var z = inputs(count, -20...20, seed: UInt64(count)), t = inputs(count, 0...1, seed: UInt64(count + 7))
                if count > 20 { z[3] = 100; z[4] = -100; z[5] = -0.0; t[6] = 0; t[7] = 1 }
                var y = z, portableY = z
                var g = [Float](repeating: 0, count: count), portableG = g
                var squares = 0.0
                let loss = y.withUnsafeMutableBufferPointer { yp in
                    g.withUnsafeMutableBufferPointer { k.logistic_cross_entropy(yp.baseAddress!, t, $0.baseAddress!, count, &squares) }
                }
                let portable = portableY.withUnsafeMutableBufferPointer { yp in
                    portableG.withUnsafeMutableBufferPointer {
                        SwiftKernels.logisticCrossEntropy(yp.baseAddress!, t, $0.baseAddress!, count, withSquaredError: true)
                    }
                }
                var referenceLoss = 0.0, referenceSquares = 0.0
                for i in 0..<count {
                    let zi = Double(z[i]), ti = Double(t[i])
                    let yi = 1 / (1 + Foundation.exp(-zi))
                    referenceLoss += max(zi, 0) - ti * zi + Foundation.log1p(Foundation.exp(-abs(zi)))
                    referenceSquares += (yi - ti) * (yi - ti)
                    XCTAssertEqual(Double(y[i]), yi, accuracy: 4 * 0x1p-24, name)
                    XCTAssertEqual(y[i], portableY[i], accuracy: 4 * 0x1p-24, name)
                    XCTAssertEqual(g[i], portableG[i], accuracy: 8 * 0x1p-24, name)
                }
                XCTAssertEqual(loss, referenceLoss, accuracy: 1e-6 * referenceLoss, "\(name), count \(count)")
                XCTAssertEqual(squares, referenceSquares, accuracy: 1e-6 * referenceSquares, "\(name), count \(count)")
                XCTAssertEqual(loss, portable.loss, accuracy: 1e-6 * referenceLoss, name)
                XCTAssertEqual(squares, portable.squaredError, accuracy: 1e-6 * referenceSquares, name)
                // Without the gradient and the squares: the same loss and outputs.
                var plainY = z
                let plain = plainY.withUnsafeMutableBufferPointer { k.logistic_cross_entropy($0.baseAddress!, t, nil, count, nil) }
                XCTAssertEqual(plain, loss, name)
                XCTAssertEqual(plainY, y, name)
            }
            var z: [Float] = [1, .nan, 2]
            let loss = z.withUnsafeMutableBufferPointer { k.logistic_cross_entropy($0.baseAddress!, [0, 0, 1], nil, 3, nil) }
            XCTAssertTrue(loss.isNaN, "\(name): a NaN pre-activation must make the loss NaN")
        }
    }

    func testSquaredErrorMatchesSwiftKernelAndDouble() throws {
        guard !tables.isEmpty else { throw XCTSkip("no AVX2 on this processor") }
        for (name, k) in tables {
            for count in counts + [100_003] {
                let y = inputs(count, -3...3, seed: UInt64(count)), t = inputs(count, -1...1, seed: UInt64(count + 1))
                var g = [Float](repeating: .nan, count: count), portableG = g
                let sum = g.withUnsafeMutableBufferPointer { k.squared_error(y, t, $0.baseAddress!, count) }
                let portable = portableG.withUnsafeMutableBufferPointer { SwiftKernels.squaredError(y, t, $0.baseAddress!, count) }
                var reference = 0.0
                for i in 0..<count { reference += (Double(y[i]) - Double(t[i])) * (Double(y[i]) - Double(t[i])) }
                XCTAssertEqual(sum, reference, accuracy: 1e-6 * reference, "\(name), count \(count)")
                XCTAssertEqual(g, portableG, "\(name): the gradient 2 (y - t) is exact arithmetic, the same in every kernel")
                if k.lanes == 8 { XCTAssertEqual(sum, portable, "\(name): 8 lanes add up as the Swift kernel does") }
                XCTAssertEqual(k.squared_error(y, t, nil, count), sum, name)
            }
            XCTAssertTrue(k.squared_error([1, .nan, 3], [0, 0, 0], nil, 3).isNaN, "\(name): NaN must reach the sum")
            XCTAssertTrue(k.squared_error([1, .infinity], [0, 0], nil, 2).isInfinite, name)
        }
    }

    /// The memory-bound kernels compute exactly what the Swift kernels compute (no FMA, the
    /// same order), at either width.
    func testDerivativesSquaresAndColumnSumsEqualTheSwiftKernels() throws {
        guard !tables.isEmpty else { throw XCTSkip("no AVX2 on this processor") }
        for (name, k) in tables {
            for count in counts {
                let x = inputs(count, -5...5, seed: UInt64(count)) , y = inputs(count, 0...1, seed: UInt64(count + 3))
                var a = x, b = x
                a.withUnsafeMutableBufferPointer { k.multiply_logistic_derivative($0.baseAddress!, y, count) }
                b.withUnsafeMutableBufferPointer { p in SwiftKernels.zip(p.baseAddress!, y, count) { $0 * ($1 * (1 - $1)) } }
                XCTAssertEqual(a, b, "\(name): logistic derivative, count \(count)")
                for i in 0..<count { XCTAssertEqual(Double(a[i]), Double(x[i]) * Double(y[i]) * (1 - Double(y[i])), accuracy: 1e-6) }
                a = x; b = x
                a.withUnsafeMutableBufferPointer { k.multiply_logistic_second_derivative($0.baseAddress!, y, count) }
                b.withUnsafeMutableBufferPointer { p in SwiftKernels.zip(p.baseAddress!, y, count) { $0 * ($1 * (1 - $1) * (1 - 2 * $1)) } }
                XCTAssertEqual(a, b, "\(name): logistic second derivative, count \(count)")
                var s = [Float](repeating: .nan, count: count + 1), sSwift = s
                s.withUnsafeMutableBufferPointer { k.square(x, $0.baseAddress!, count) }
                sSwift.withUnsafeMutableBufferPointer { SwiftKernels.square(x, $0.baseAddress!, count) }
                XCTAssertEqual(Array(s.prefix(count)), Array(sSwift.prefix(count)), name)
                XCTAssertTrue(s[count].isNaN, "\(name): square wrote past its end")
            }
            // Column sums of a block inside a wider matrix (row stride > columns), at widths
            // around 4 vectors of 8 and 16 lanes, and past one band of 4096 columns.
            for (rows, columns) in [(1, 1), (3, 7), (5, 33), (17, 64), (9, 65), (4, 129), (3, 1100), (2, 4100)] {
                let stride = columns + 5
                let m = inputs(rows * stride, -2...2, seed: UInt64(rows * 1000 + columns))
                let y = inputs(rows * stride, 0...1, seed: UInt64(columns))
                let start = inputs(columns + 3, -1...1, seed: 9)
                var sums = start, swiftSums = start
                sums.withUnsafeMutableBufferPointer { k.add_column_sums(m, rows, columns, stride, 0.5, $0.baseAddress!) }
                m.withUnsafeBufferPointer { mp in
                    swiftSums.withUnsafeMutableBufferPointer {
                        SwiftKernels.addColumnSumsSerial(mp.baseAddress!, rows, columns, rowStride: stride, 0.5, $0.baseAddress!)
                    }
                }
                XCTAssertEqual(sums, swiftSums, "\(name): column sums \(rows) x \(columns)")
                for j in 0..<columns {
                    var reference = 0.0
                    for r in 0..<rows { reference += Double(m[r * stride + j]) }
                    XCTAssertEqual(Double(sums[j]), Double(start[j]) + 0.5 * reference, accuracy: 1e-5 * Double(rows))
                }
                XCTAssertEqual(Array(sums.suffix(3)), Array(start.suffix(3)), "\(name): column sums wrote past the block")

                // The fused backward step: x *= y (1 - y) inside the block, sums of the new x.
                var fused = m, fusedSums = start
                fused.withUnsafeMutableBufferPointer { xp in
                    fusedSums.withUnsafeMutableBufferPointer {
                        k.logistic_derivative_column_sums(xp.baseAddress!, y, rows, columns, stride, -1.5, $0.baseAddress!)
                    }
                }
                var expected = m, expectedSums = start
                for r in 0..<rows {
                    for j in 0..<columns { expected[r * stride + j] = m[r * stride + j] * (y[r * stride + j] * (1 - y[r * stride + j])) }
                }
                expected.withUnsafeBufferPointer { ep in
                    expectedSums.withUnsafeMutableBufferPointer {
                        SwiftKernels.addColumnSumsSerial(ep.baseAddress!, rows, columns, rowStride: stride, -1.5, $0.baseAddress!)
                    }
                }
                XCTAssertEqual(fused, expected, "\(name): fused derivative \(rows) x \(columns) (the columns past the block untouched)")
                XCTAssertEqual(fusedSums, expectedSums, "\(name): fused column sums \(rows) x \(columns)")
            }
        }
    }

    /// Where the processor runs AVX-512, its kernels equal the 16-lane AVX2 build of the same
    /// source bit for bit: the check that what the other tests verify is what runs.
    func testAVX512KernelsEqualTheirSourceOnAVX2() throws {
        guard let real = hf_float_kernels_for(HF_ISA_AVX512)?.pointee,
              let source = hf_float_kernels_for(HF_ISA_AVX512_ON_AVX2)?.pointee else {
            throw XCTSkip("no AVX-512 F/DQ/BW/VL on this processor")
        }
        for count in counts + [100_003] {
            var z = inputs(count, -40...40, seed: UInt64(count)), t = inputs(count, 0...1, seed: 2)
            if count > 3 { z[1] = .nan; z[2] = -0.0 }
            var a = z, b = z
            a.withUnsafeMutableBufferPointer { real.logistic($0.baseAddress!, count) }
            b.withUnsafeMutableBufferPointer { source.logistic($0.baseAddress!, count) }
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
            if count > 1 { z[1] = 3 }
            a = z; b = z
            var ga = [Float](repeating: 0, count: count), gb = ga
            var sa = 0.0, sb = 0.0
            let la = a.withUnsafeMutableBufferPointer { p in ga.withUnsafeMutableBufferPointer { real.logistic_cross_entropy(p.baseAddress!, t, $0.baseAddress!, count, &sa) } }
            let lb = b.withUnsafeMutableBufferPointer { p in gb.withUnsafeMutableBufferPointer { source.logistic_cross_entropy(p.baseAddress!, t, $0.baseAddress!, count, &sb) } }
            XCTAssertEqual(a, b); XCTAssertEqual(ga, gb); XCTAssertEqual(la, lb); XCTAssertEqual(sa, sb)
            XCTAssertEqual(real.squared_error(z, t, nil, count), source.squared_error(z, t, nil, count))
            a = z; b = z
            a.withUnsafeMutableBufferPointer { real.multiply_logistic_derivative($0.baseAddress!, t, count) }
            b.withUnsafeMutableBufferPointer { source.multiply_logistic_derivative($0.baseAddress!, t, count) }
            XCTAssertEqual(a, b)
        }
    }

    /// The public Float entry points run the chosen table, split over threads.
    func testFloatEntryPointsUseTheChosenKernels() {
        let count = 100_003
        let x = inputs(count, -5...5, seed: 4), y = inputs(count, 0...1, seed: 5)
        var a = x, b = x
        a.withUnsafeMutableBufferPointer { Float.multiplyByLogisticDerivative($0.baseAddress!, outputs: y, count: count) }
        b.withUnsafeMutableBufferPointer { p in SwiftKernels.zip(p.baseAddress!, y, count) { $0 * ($1 * (1 - $1)) } }
        XCTAssertEqual(a, b)
        let rows = 300, columns = 333
        var m = Array(x.prefix(rows * columns)), sums = [Float](repeating: 0, count: columns)
        var mSwift = m, sumsSwift = sums
        m.withUnsafeMutableBufferPointer { mp in
            sums.withUnsafeMutableBufferPointer {
                Float.multiplyByDerivative(.logistic, mp.baseAddress!, outputs: y, rows: rows, columns: columns,
                                           addingColumnSumsScaledBy: 2, into: $0.baseAddress!)
            }
        }
        mSwift.withUnsafeMutableBufferPointer { mp in
            sumsSwift.withUnsafeMutableBufferPointer {
                SwiftKernels.multiplyByDerivative(.logistic, mp.baseAddress!, y, rows, columns, 2, $0.baseAddress!)
            }
        }
        XCTAssertEqual(m, mSwift)
        XCTAssertEqual(sums, sumsSwift)
        let squared = Float.squaredError(x, targets: y, gradient: nil, count: count)
        var reference = 0.0
        for i in 0..<count { reference += (Double(x[i]) - Double(y[i])) * (Double(x[i]) - Double(y[i])) }
        XCTAssertEqual(squared, reference, accuracy: 1e-6 * reference)
        XCTAssertEqual(Float.squaredDifferenceSum(x, y, count: count), squared)
    }
}
