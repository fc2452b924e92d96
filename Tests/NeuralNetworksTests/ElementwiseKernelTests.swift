import XCTest
import Foundation
import LinearAlgebra

/// The SIMD kernels against Foundation's scalar functions evaluated in Double.
///
/// Tolerances: Float exp is specified to about 2 ulp, so relative error <= 3 * 2^-23 (3 ulp
/// of margin at the top of each binade); Double exp <= 4 * 2^-52. Logistic and tanh inherit
/// exp's relative error plus one division: absolute <= 4 * 2^-24 for Float outputs in [0, 1].
/// Counts are chosen so tails (not a multiple of the 8 or 4 lanes) are exercised.
final class ElementwiseKernelTests: XCTestCase {
    func samples(_ count: Int, range: ClosedRange<Double>, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in range.lowerBound + (range.upperBound - range.lowerBound) * g.uniform() }
    }

    func testExponentialAccuracy() {
        let xs = samples(10_001, range: -87...88, seed: 1) + [0, -0.0, 1, -1, 88, -87.3, 0.34657, -0.34657]
        var f = xs.map { Float($0) }
        f.withUnsafeMutableBufferPointer { Float.exponential($0.baseAddress!, count: $0.count) }
        var worst = 0.0
        for (x, y) in zip(xs, f) {
            let reference = Foundation.exp(Double(Float(x)))
            worst = max(worst, abs(Double(y) - reference) / reference)
        }
        XCTAssertLessThan(worst, 3 * 0x1p-23)

        let xd = samples(10_003, range: -700...700, seed: 2)
        var d = xd
        d.withUnsafeMutableBufferPointer { Double.exponential($0.baseAddress!, count: $0.count) }
        worst = 0
        for (x, y) in zip(xd, d) { worst = max(worst, abs(y - Foundation.exp(x)) / Foundation.exp(x)) }
        XCTAssertLessThan(worst, 4 * 0x1p-52)
        // Saturation instead of overflow.
        var big: [Float] = [1000, -1000]
        big.withUnsafeMutableBufferPointer { Float.exponential($0.baseAddress!, count: 2) }
        XCTAssertTrue(big[0].isFinite && big[0] > 1e38)
        XCTAssertTrue(big[1] >= 0 && big[1] < 1e-37)
    }

    func testLogisticAndTanh() {
        let xs = samples(1003, range: -30...30, seed: 3)
        var l = xs.map { Float($0) }, t = xs.map { Float($0) }
        l.withUnsafeMutableBufferPointer { Float.logistic($0.baseAddress!, count: $0.count) }
        t.withUnsafeMutableBufferPointer { Float.hyperbolicTangent($0.baseAddress!, count: $0.count) }
        for (i, x) in xs.enumerated() {
            let xf = Double(Float(x))
            XCTAssertEqual(Double(l[i]), 1 / (1 + Foundation.exp(-xf)), accuracy: 4 * 0x1p-24)
            XCTAssertEqual(Double(t[i]), Foundation.tanh(xf), accuracy: 8 * 0x1p-24)
        }
        var r: [Double] = [-2, 0, 3, -0.5, 7]
        r.withUnsafeMutableBufferPointer { Double.rectifiedLinear($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(r, [0, 0, 3, 0, 7])
    }

    func testDerivativesFromOutputs() {
        let y: [Double] = [0.1, 0.5, 0.9, -0.3, 0.0]
        var x = [Double](repeating: 2, count: 5)
        x.withUnsafeMutableBufferPointer { Double.multiplyByLogisticDerivative($0.baseAddress!, outputs: y, count: 5) }
        XCTAssertEqual(x, y.map { 2 * $0 * (1 - $0) })
        x = [Double](repeating: 2, count: 5)
        x.withUnsafeMutableBufferPointer { Double.multiplyByTanhDerivative($0.baseAddress!, outputs: y, count: 5) }
        XCTAssertEqual(x, y.map { 2 * (1 - $0 * $0) })
        x = [Double](repeating: 2, count: 5)
        x.withUnsafeMutableBufferPointer { Double.multiplyByReluDerivative($0.baseAddress!, outputs: y, count: 5) }
        XCTAssertEqual(x, [2, 2, 2, 0, 0])
        x = [Double](repeating: 1, count: 5)
        x.withUnsafeMutableBufferPointer { Double.multiplyByLogisticSecondDerivative($0.baseAddress!, outputs: y, count: 5) }
        for i in 0..<5 { XCTAssertEqual(x[i], y[i] * (1 - y[i]) * (1 - 2 * y[i]), accuracy: 1e-16) }
        x = [Double](repeating: 1, count: 5)
        x.withUnsafeMutableBufferPointer { Double.multiplyByTanhSecondDerivative($0.baseAddress!, outputs: y, count: 5) }
        for i in 0..<5 { XCTAssertEqual(x[i], -2 * y[i] * (1 - y[i] * y[i]), accuracy: 1e-16) }
    }

    /// Stable binary cross-entropy even for |z| = 100, where log(1 - y) underflows naively.
    func testLogisticCrossEntropy() {
        for (count, range) in [(13, -5.0...5.0), (1001, -100.0...100.0)] {
            let z = samples(count, range: range, seed: 4), t = samples(count, range: 0...1, seed: 5)
            var reference = 0.0
            for (zi, ti) in zip(z, t) { reference += max(zi, 0) - ti * zi + Foundation.log1p(Foundation.exp(-abs(zi))) }
            var zd = z
            var gradient = [Double](repeating: 0, count: count)
            let loss = zd.withUnsafeMutableBufferPointer { zp in
                gradient.withUnsafeMutableBufferPointer { g in
                    Double.logisticCrossEntropy(zp.baseAddress!, targets: t, gradient: g.baseAddress!, count: count)
                }
            }
            XCTAssertEqual(loss, reference, accuracy: 1e-13 * reference)
            for i in 0..<count {
                let y = 1 / (1 + Foundation.exp(-z[i]))
                XCTAssertEqual(zd[i], y, accuracy: 1e-15)
                XCTAssertEqual(gradient[i], y - t[i], accuracy: 1e-15)
            }
            var zf = z.map { Float($0) }
            let lossF = zf.withUnsafeMutableBufferPointer {
                Float.logisticCrossEntropy($0.baseAddress!, targets: t.map { Float($0) }, gradient: nil, count: count)
            }
            XCTAssertEqual(lossF, reference, accuracy: 1e-5 * reference)
        }
    }

    func testSoftmaxCrossEntropyAndHessian() {
        let rows = 3, columns = 11
        let z = samples(rows * columns, range: -20...20, seed: 6)
        var t = samples(rows * columns, range: 0...1, seed: 7)
        for r in 0..<rows { let s = t[(r * columns)..<((r + 1) * columns)].reduce(0, +); for j in 0..<columns { t[r * columns + j] /= s } }
        var y = z
        var gradient = [Double](repeating: 0, count: rows * columns)
        let loss = y.withUnsafeMutableBufferPointer { yp in
            gradient.withUnsafeMutableBufferPointer { Double.softmaxCrossEntropy(yp.baseAddress!, targets: t, gradient: $0.baseAddress!, rows: rows, columns: columns) }
        }
        var reference = 0.0
        for r in 0..<rows {
            let row = Array(z[(r * columns)..<((r + 1) * columns)])
            let m = row.max()!
            let lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            for j in 0..<columns {
                XCTAssertEqual(y[r * columns + j], Foundation.exp(row[j] - lse), accuracy: 1e-15)
                XCTAssertEqual(gradient[r * columns + j], y[r * columns + j] - t[r * columns + j], accuracy: 1e-15)
                reference -= t[r * columns + j] * (row[j] - lse)
            }
        }
        XCTAssertEqual(loss, reference, accuracy: 1e-12)
        // (diag(y) - y y') r against the explicit matrix.
        let direction = samples(rows * columns, range: -1...1, seed: 8)
        var product = direction
        product.withUnsafeMutableBufferPointer { Double.multiplyBySoftmaxHessian($0.baseAddress!, probabilities: y, rows: rows, columns: columns) }
        for r in 0..<rows {
            for a in 0..<columns {
                var expected = 0.0
                for c in 0..<columns {
                    let ya = y[r * columns + a], yc = y[r * columns + c]
                    expected += ((a == c ? ya : 0) - ya * yc) * direction[r * columns + c]
                }
                XCTAssertEqual(product[r * columns + a], expected, accuracy: 1e-15)
            }
        }
    }

    func testBroadcastColumnSumsRowDotsAndScaling() {
        for (rows, columns) in [(5, 37), (3, 3), (7, 64)] {
            let m = samples(rows * columns, range: -1...1, seed: UInt64(rows * columns)).map { Float($0) }
            var sums = [Float](repeating: 1, count: columns)
            sums.withUnsafeMutableBufferPointer { Float.addColumnSums(of: m, rows: rows, columns: columns, scaledBy: 0.5, into: $0.baseAddress!) }
            for j in 0..<columns {
                let expected = 1 + 0.5 * (0..<rows).map { Double(m[$0 * columns + j]) }.reduce(0, +)
                XCTAssertEqual(Double(sums[j]), expected, accuracy: 1e-5)
            }
            var dots = [Float](repeating: 0, count: rows)
            dots.withUnsafeMutableBufferPointer { Float.addRowDots(m, m, rows: rows, columns: columns, into: $0.baseAddress!) }
            for i in 0..<rows {
                XCTAssertEqual(Double(dots[i]), (0..<columns).map { Double(m[i * columns + $0]) * Double(m[i * columns + $0]) }.reduce(0, +), accuracy: 1e-4)
            }
            var scaled = m
            let scales = (0..<rows).map { Float($0) - 1 }
            scaled.withUnsafeMutableBufferPointer { Float.scaleRows($0.baseAddress!, by: scales, rows: rows, columns: columns) }
            for i in 0..<rows { for j in 0..<columns { XCTAssertEqual(scaled[i * columns + j], m[i * columns + j] * scales[i]) } }
            var squared = [Float](repeating: 0, count: rows * columns)
            squared.withUnsafeMutableBufferPointer { Float.square(m, into: $0.baseAddress!, count: rows * columns) }
            XCTAssertEqual(squared, m.map { $0 * $0 })
            var product = m
            product.withUnsafeMutableBufferPointer { Float.multiply($0.baseAddress!, by: m, count: rows * columns) }
            XCTAssertEqual(product, squared)
            product.withUnsafeMutableBufferPointer { Float.addProduct($0.baseAddress!, m, m, count: rows * columns) }
            XCTAssertEqual(product, squared.map { 2 * $0 })
            let row = (0..<columns).map { Float($0) }
            var broadcast = [Float](repeating: -1, count: rows * columns)
            broadcast.withUnsafeMutableBufferPointer { Float.broadcastRow(row, into: $0.baseAddress!, rows: rows, columns: columns) }
            XCTAssertEqual(broadcast, Array((0..<rows).map { _ in row }.joined()))
            XCTAssertEqual(Float.squaredDifferenceSum(m, squared, count: rows * columns),
                           zip(m, squared).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +), accuracy: 1e-4)
        }
    }

    /// The fused kernels give what the separate kernels give: the cross-entropy pass's squared
    /// error equals `squaredDifferenceSum` of its outputs (tails included: padding lanes must
    /// not count), and the derivative pass's column sums equal `addColumnSums` of its result
    /// bit for bit, with one thread and with several.
    func testFusedKernelsMatchSeparateKernels() {
        let saved = ElementwiseParallelism.threads
        defer { ElementwiseParallelism.threads = saved }
        for (rows, columns, threads) in [(3, 13, 1), (7, 64, 1), (301, 333, 2), (257, 1001, 3)] {
            ElementwiseParallelism.threads = threads
            let count = rows * columns
            let z = samples(count, range: -9...9, seed: UInt64(count)).map { Float($0) }
            let t = samples(count, range: 0...1, seed: UInt64(count + 1)).map { Float($0) }
            var y1 = z, y2 = z
            var g1 = [Float](repeating: 0, count: count), g2 = g1
            let loss1 = y1.withUnsafeMutableBufferPointer { yp in
                g1.withUnsafeMutableBufferPointer { Float.logisticCrossEntropy(yp.baseAddress!, targets: t, gradient: $0.baseAddress!, count: count) }
            }
            let fused = y2.withUnsafeMutableBufferPointer { yp in
                g2.withUnsafeMutableBufferPointer {
                    Float.logisticCrossEntropyAndSquaredError(yp.baseAddress!, targets: t, gradient: $0.baseAddress!, count: count)
                }
            }
            XCTAssertEqual(y1, y2); XCTAssertEqual(g1, g2)
            XCTAssertEqual(fused.loss, loss1)
            let reference = zip(y1, t).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +)
            XCTAssertEqual(fused.squaredError, reference, accuracy: 1e-6 * reference, "\(rows)x\(columns)")

            for (derivative, separate) in [(UnitDerivative.logistic, Float.multiplyByLogisticDerivative),
                                           (.tanh, Float.multiplyByTanhDerivative), (.rectifiedLinear, Float.multiplyByReluDerivative)] {
                let outputs = derivative == .tanh ? y1.map { 2 * $0 - 1 } : (derivative == .rectifiedLinear ? z.map { max($0, 0) } : y1)
                var x1 = g1, x2 = g1
                var sums1 = [Float](repeating: 0.25, count: columns), sums2 = sums1
                x1.withUnsafeMutableBufferPointer { separate($0.baseAddress!, outputs, count) }
                sums1.withUnsafeMutableBufferPointer { Float.addColumnSums(of: x1, rows: rows, columns: columns, scaledBy: 0.5, into: $0.baseAddress!) }
                x2.withUnsafeMutableBufferPointer { xp in
                    sums2.withUnsafeMutableBufferPointer {
                        Float.multiplyByDerivative(derivative, xp.baseAddress!, outputs: outputs, rows: rows, columns: columns,
                                                   addingColumnSumsScaledBy: 0.5, into: $0.baseAddress!)
                    }
                }
                XCTAssertEqual(x1, x2, "\(derivative)")
                XCTAssertEqual(sums1, sums2, "\(derivative) \(rows)x\(columns)")
            }
        }
    }

    /// Large buffers are split over threads: the results equal the one-thread results bit for
    /// bit, the losses included (their pieces do not depend on the thread count).
    func testParallelSplitMatchesSingleThread() {
        let saved = ElementwiseParallelism.threads
        defer { ElementwiseParallelism.threads = saved }
        let rows = 301, columns = 333 // 100233 elements: above the parallel threshold, odd tails
        let z = samples(rows * columns, range: -9...9, seed: 9).map { Float($0) }
        let t = samples(rows * columns, range: 0...1, seed: 10).map { Float($0) }
        func run(threads: Int) -> (loss: Double, y: [Float], g: [Float], sums: [Float], softmax: [Float], dots: [Float],
                                   squared: Double, softmaxLoss: Double) {
            ElementwiseParallelism.threads = threads
            var y = z, g = [Float](repeating: 0, count: z.count), sums = [Float](repeating: 0, count: columns)
            var sm = z, dots = [Float](repeating: 0, count: rows)
            let loss = y.withUnsafeMutableBufferPointer { yp in
                g.withUnsafeMutableBufferPointer { Float.logisticCrossEntropy(yp.baseAddress!, targets: t, gradient: $0.baseAddress!, count: z.count) }
            }
            g.withUnsafeMutableBufferPointer { Float.multiplyByLogisticDerivative($0.baseAddress!, outputs: y, count: z.count) }
            sums.withUnsafeMutableBufferPointer { Float.addColumnSums(of: g, rows: rows, columns: columns, scaledBy: 1, into: $0.baseAddress!) }
            sm.withUnsafeMutableBufferPointer { Float.softmaxRows($0.baseAddress!, rows: rows, columns: columns) }
            dots.withUnsafeMutableBufferPointer { Float.addRowDots(sm, t, rows: rows, columns: columns, into: $0.baseAddress!) }
            let squared = Float.squaredError(y, targets: t, gradient: nil, count: z.count)
            var zs = z
            let softmaxLoss = zs.withUnsafeMutableBufferPointer {
                Float.softmaxCrossEntropy($0.baseAddress!, targets: t, gradient: nil, rows: rows, columns: columns)
            }
            return (loss, y, g, sums, sm, dots, squared, softmaxLoss)
        }
        let one = run(threads: 1), two = run(threads: 2), three = run(threads: 3)
        for other in [two, three] {
            XCTAssertEqual(other.loss, one.loss)
            XCTAssertEqual(other.squared, one.squared)
            XCTAssertEqual(other.softmaxLoss, one.softmaxLoss)
            XCTAssertEqual(other.y, one.y)
            XCTAssertEqual(other.g, one.g)
            XCTAssertEqual(other.sums, one.sums)
            XCTAssertEqual(other.softmax, one.softmax)
            XCTAssertEqual(other.dots, one.dots)
        }
    }
}
