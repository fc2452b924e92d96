#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Dispatch

/// Vectorized elementwise kernels for neural-network work: activations and their derivatives,
/// matched loss terms, bias broadcasts, column sums and Hadamard products.
///
/// Every kernel works on raw contiguous buffers (`count` elements, or `rows x columns`
/// row-major with no padding) and never allocates. The bodies are written once, generically
/// over a SIMD lane type (`SIMD8<Float>`, `SIMD4<Double>`), and reached through the
/// `ElementwiseScalar` protocol requirements so that callers in other modules, which may be
/// generic themselves, dispatch once per call into code specialized for the concrete type.
///
/// Accuracy: `exp` uses range reduction x = n ln2 + r, |r| <= ln2/2, and a Taylor polynomial of
/// degree 7 (Float) or 13 (Double), whose truncation error is below 0.05 ulp; with the
/// roundings of Horner's scheme the result is within about 2 ulp (tests bound it by 3). Arguments are clamped to the normal range of the type, so
/// `exp` never returns infinity or a subnormal (a deliberate saturation: every caller adds 1
/// to the result or multiplies it by something bounded).
public protocol ElementwiseScalar: BLASScalar {
    /// x = 1 / (1 + exp(-x)), in place.
    static func logistic(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// x = tanh(x) = 2 logistic(2x) - 1, in place (absolute error about 2 ulp of 1 near 0).
    static func hyperbolicTangent(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// x = max(x, 0), in place.
    static func rectifiedLinear(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// x = exp(x), in place (clamped to the normal range).
    static func exponential(_ x: UnsafeMutablePointer<Self>, count: Int)

    /// x *= y (1 - y): the logistic derivative from the unit's output y.
    static func multiplyByLogisticDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int)
    /// x *= 1 - y^2: the tanh derivative from the unit's output y.
    static func multiplyByTanhDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int)
    /// x *= (y > 0 ? 1 : 0): the rectified-linear derivative from the unit's output y.
    static func multiplyByReluDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int)
    /// x *= f''(z) written in terms of y = logistic(z): y (1 - y) (1 - 2y).
    static func multiplyByLogisticSecondDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int)
    /// x *= f''(z) written in terms of y = tanh(z): -2 y (1 - y^2).
    static func multiplyByTanhSecondDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int)

    /// Binary cross-entropy from pre-activations, stably: returns the sum over elements of
    /// softplus(z) - t z = -[t log y + (1 - t) log(1 - y)], y = logistic(z) (Double sum).
    /// Replaces z by y in place; when `gradient` is given, writes dL/dz = y - t there.
    static func logisticCrossEntropy(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                     gradient: UnsafeMutablePointer<Self>?, count: Int) -> Double
    /// `logisticCrossEntropy`, also returning the sum of (y - t)^2 (the reconstruction error)
    /// from the same pass over the buffers.
    static func logisticCrossEntropyAndSquaredError(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                                    gradient: UnsafeMutablePointer<Self>?, count: Int) -> (loss: Double, squaredError: Double)
    /// Squared error without the 1/2: returns the sum of (y - t)^2 (Double); when `gradient`
    /// is given writes dL/dy = 2 (y - t) there.
    static func squaredError(_ y: UnsafePointer<Self>, targets t: UnsafePointer<Self>,
                             gradient: UnsafeMutablePointer<Self>?, count: Int) -> Double
    /// Softmax over each row of z (rows x columns, row-major, contiguous), in place, and the
    /// multinomial cross-entropy sum over rows of -sum_j t_j log y_j (Double). When `gradient`
    /// is given writes dL/dz = y - t there (exact when each target row sums to 1).
    static func softmaxCrossEntropy(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                    gradient: UnsafeMutablePointer<Self>?, rows: Int, columns: Int) -> Double
    /// Softmax over each row (rows x columns), in place.
    static func softmaxRows(_ z: UnsafeMutablePointer<Self>, rows: Int, columns: Int)
    /// r = y * r - y (y . r) for each row: the softmax cross-entropy Hessian diag(y) - y y'
    /// applied to each row of r (rows x columns).
    static func multiplyBySoftmaxHessian(_ r: UnsafeMutablePointer<Self>, probabilities y: UnsafePointer<Self>,
                                         rows: Int, columns: Int)

    /// Each row of `matrix` (rows x columns) = `row` (length columns): a bias broadcast.
    static func broadcastRow(_ row: UnsafePointer<Self>, into matrix: UnsafeMutablePointer<Self>, rows: Int, columns: Int)
    /// sums[j] += alpha * sum_i matrix[i, j] (matrix rows x columns).
    static func addColumnSums(of matrix: UnsafePointer<Self>, rows: Int, columns: Int, scaledBy alpha: Self,
                              into sums: UnsafeMutablePointer<Self>)
    /// x *= f'(z) written in terms of the outputs y = f(z) (x, y rows x columns), then
    /// sums[j] += alpha * sum_i x[i, j] of the result: a backward step and its bias gradient
    /// in one pass. Column sums are added in row order, as `addColumnSums` does.
    static func multiplyByDerivative(_ derivative: UnitDerivative, _ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>,
                                     rows: Int, columns: Int, addingColumnSumsScaledBy alpha: Self, into sums: UnsafeMutablePointer<Self>)
    /// destination = source^2 elementwise.
    static func square(_ source: UnsafePointer<Self>, into destination: UnsafeMutablePointer<Self>, count: Int)
    /// x *= y elementwise (Hadamard product), in place.
    static func multiply(_ x: UnsafeMutablePointer<Self>, by y: UnsafePointer<Self>, count: Int)
    /// x += y * w elementwise.
    static func addProduct(_ x: UnsafeMutablePointer<Self>, _ y: UnsafePointer<Self>, _ w: UnsafePointer<Self>, count: Int)
    /// sums[i] += dot(a row i, b row i) for a, b rows x columns.
    static func addRowDots(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, rows: Int, columns: Int,
                           into sums: UnsafeMutablePointer<Self>)
    /// matrix row i *= scales[i] (matrix rows x columns).
    static func scaleRows(_ matrix: UnsafeMutablePointer<Self>, by scales: UnsafePointer<Self>, rows: Int, columns: Int)
    /// sum of (y - t)^2 in Double.
    static func squaredDifferenceSum(_ y: UnsafePointer<Self>, _ t: UnsafePointer<Self>, count: Int) -> Double
}

/// The unit derivatives that `multiplyByDerivative(_:_:outputs:rows:columns:addingColumnSumsScaledBy:into:)`
/// applies, each written in terms of the unit's output y.
public enum UnitDerivative: Sendable {
    /// y (1 - y)
    case logistic
    /// 1 - y^2
    case tanh
    /// 1 where y > 0, else 0
    case rectifiedLinear
    /// 1
    case linear
}

/// How many threads the elementwise kernels split large buffers over.
///
/// BLAS already keeps every core busy during gemm; between gemms the elementwise work would
/// otherwise run on one core while the others wait, so large kernels (at least
/// `minimumParallelCount` elements) are split over `threads` threads with
/// `DispatchQueue.concurrentPerform`. Elementwise results do not depend on how the work is
/// split; reductions (the losses) use pieces fixed by the size of the work alone and add them
/// in order, so every result is the same for any `threads`.
public enum ElementwiseParallelism {
    /// Threads for large kernels: the number of online processors by default; set 1 to
    /// keep all elementwise work on the calling thread. Set it before any computation starts.
    nonisolated(unsafe) public static var threads: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// Below this many elements a kernel stays on the calling thread (hand-off costs ~10 us).
    public static let minimumParallelCount = 1 << 15
}

/// The compute threads of a process, OpenBLAS's and the elementwise kernels' alike (`hf train
/// --threads N`), so that two runs given one thread each, or P ranks on one machine, do not
/// oversubscribe its cores. `nil` leaves both at their defaults (all cores).
public enum ComputeThreads {
    public static func set(_ count: Int?) {
        BLASThreads.set(count ?? 0)
        if let count { ElementwiseParallelism.threads = count }
    }
}

/// Carries a value into a `@Sendable` closure whose concurrent uses are known to be safe
/// (disjoint writes through raw pointers).
struct UncheckedSendable<Value>: @unchecked Sendable { let value: Value }

// MARK: - Lane types

/// A SIMD lane type with a vectorized exponential; the generic kernel bodies are written
/// against it. Public only because `_ElementwiseImplementation` names it; not API.
public protocol _FloatLanes: SIMD where Scalar: BinaryFloatingPoint {
    /// exp on every lane, argument clamped to the normal range.
    static func exp(_ x: Self) -> Self
    /// |x| on every lane.
    static func magnitude(_ x: Self) -> Self
    /// Per lane: `negative` where the sign bit of `z` is set, else `nonNegative`. A bitwise
    /// select: the generic `replacing(with:where:)` compiles to a lane-by-lane loop in the
    /// specialized kernels, which made the cross-entropy kernel 10x slower.
    static func select(_ negative: Self, _ nonNegative: Self, bySignOf z: Self) -> Self
}

extension SIMD8: _FloatLanes where Scalar == Float {
    @inline(__always) public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Clamp so that n stays in [-126, 127]: the scale 2^n is then a normal number.
        let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.0)
        let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        // Round x log2(e) to the nearest integer with the 1.5 * 2^23 trick (no SSE4.1 round).
        let magic = SIMD8<Float>(repeating: 12582912.0)
        let shifted = xc * SIMD8(repeating: 1.44269504) + magic
        let n = shifted - magic
        // Cody-Waite: ln2 = hi + lo, hi with few bits so n * hi is exact.
        let r = (xc - n * SIMD8(repeating: 0.693359375)) - n * SIMD8(repeating: -2.12194440e-4)
        var p = SIMD8<Float>(repeating: 1.0 / 5040)
        p = p * r + SIMD8(repeating: 1.0 / 720)
        p = p * r + SIMD8(repeating: 1.0 / 120)
        p = p * r + SIMD8(repeating: 1.0 / 24)
        p = p * r + SIMD8(repeating: 1.0 / 6)
        p = p * r + SIMD8(repeating: 0.5)
        p = p * r + SIMD8(repeating: 1)
        p = p * r + SIMD8(repeating: 1)
        let nBits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- unsafeBitCast(magic, to: SIMD8<UInt32>.self)
        let scale = unsafeBitCast((nBits &+ SIMD8<UInt32>(repeating: 127)) &<< SIMD8<UInt32>(repeating: 23), to: SIMD8<Float>.self)
        return p * scale
    }
    @inline(__always) public static func magnitude(_ x: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF), to: SIMD8<Float>.self)
    }
    @inline(__always) public static func select(_ negative: SIMD8<Float>, _ nonNegative: SIMD8<Float>, bySignOf z: SIMD8<Float>) -> SIMD8<Float> {
        let mask = unsafeBitCast(unsafeBitCast(z, to: SIMD8<Int32>.self) &>> 31, to: SIMD8<UInt32>.self)
        let n = unsafeBitCast(negative, to: SIMD8<UInt32>.self), p = unsafeBitCast(nonNegative, to: SIMD8<UInt32>.self)
        return unsafeBitCast((n & mask) | (p & ~mask), to: SIMD8<Float>.self)
    }
}

extension SIMD4: _FloatLanes where Scalar == Double {
    @inline(__always) public static func exp(_ x: SIMD4<Double>) -> SIMD4<Double> {
        // Clamp so that n stays in [-1022, 1023].
        let lo = SIMD4<Double>(repeating: -708.3), hi = SIMD4<Double>(repeating: 709.0)
        let xc = x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
        let magic = SIMD4<Double>(repeating: 6755399441055744.0) // 1.5 * 2^52
        let shifted = xc * SIMD4(repeating: 1.4426950408889634) + magic
        let n = shifted - magic
        // fdlibm's split of ln2: hi has 32 trailing zero bits, so n * hi is exact.
        let r = (xc - n * SIMD4(repeating: 6.93147180369123816490e-01)) - n * SIMD4(repeating: 1.90821492927058770002e-10)
        var p = SIMD4<Double>(repeating: 1.0 / 6227020800) // 1/13!
        p = p * r + SIMD4(repeating: 1.0 / 479001600)
        p = p * r + SIMD4(repeating: 1.0 / 39916800)
        p = p * r + SIMD4(repeating: 1.0 / 3628800)
        p = p * r + SIMD4(repeating: 1.0 / 362880)
        p = p * r + SIMD4(repeating: 1.0 / 40320)
        p = p * r + SIMD4(repeating: 1.0 / 5040)
        p = p * r + SIMD4(repeating: 1.0 / 720)
        p = p * r + SIMD4(repeating: 1.0 / 120)
        p = p * r + SIMD4(repeating: 1.0 / 24)
        p = p * r + SIMD4(repeating: 1.0 / 6)
        p = p * r + SIMD4(repeating: 0.5)
        p = p * r + SIMD4(repeating: 1)
        p = p * r + SIMD4(repeating: 1)
        let nBits = unsafeBitCast(shifted, to: SIMD4<UInt64>.self) &- unsafeBitCast(magic, to: SIMD4<UInt64>.self)
        let scale = unsafeBitCast((nBits &+ SIMD4<UInt64>(repeating: 1023)) &<< SIMD4<UInt64>(repeating: 52), to: SIMD4<Double>.self)
        return p * scale
    }
    @inline(__always) public static func magnitude(_ x: SIMD4<Double>) -> SIMD4<Double> {
        unsafeBitCast(unsafeBitCast(x, to: SIMD4<UInt64>.self) & SIMD4<UInt64>(repeating: 0x7FFF_FFFF_FFFF_FFFF), to: SIMD4<Double>.self)
    }
    @inline(__always) public static func select(_ negative: SIMD4<Double>, _ nonNegative: SIMD4<Double>, bySignOf z: SIMD4<Double>) -> SIMD4<Double> {
        let mask = unsafeBitCast(unsafeBitCast(z, to: SIMD4<Int64>.self) &>> 63, to: SIMD4<UInt64>.self)
        let n = unsafeBitCast(negative, to: SIMD4<UInt64>.self), p = unsafeBitCast(nonNegative, to: SIMD4<UInt64>.self)
        return unsafeBitCast((n & mask) | (p & ~mask), to: SIMD4<Double>.self)
    }
}

// MARK: - Generic kernel bodies

/// Kernel bodies over lane type `V`. Loops run over full lane vectors, then one padded
/// partial vector for the tail (padding lanes are never stored and never summed).
enum Kernels<V: _FloatLanes> {
    typealias S = V.Scalar

    /// Runs body(start, length) over 0..<count, split into `ElementwiseParallelism.threads`
    /// pieces (lane-aligned) when count is large enough to pay for the hand-off.
    @inline(__always) static func split(_ count: Int, alignment: Int = V.scalarCount, work: Int? = nil, _ body: (Int, Int) -> Void) {
        let t = ElementwiseParallelism.threads
        if t <= 1 || (work ?? count) < ElementwiseParallelism.minimumParallelCount {
            body(0, count); return
        }
        let piece = ((count + t - 1) / t + alignment - 1) / alignment * alignment
        // The pieces write disjoint ranges; the box only silences the Sendable check for the
        // raw pointers the body captures.
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(value: body)
            DispatchQueue.concurrentPerform(iterations: t) { k in
                let start = k * piece
                if start < count { box.value(start, min(piece, count - start)) }
            }
        }
    }
    /// Like `split`, summing the pieces' Double results in piece order (deterministic).
    @inline(__always) static func splitSum(_ count: Int, alignment: Int = V.scalarCount, work: Int? = nil, _ body: (Int, Int) -> Double) -> Double {
        splitSums(count, alignment: alignment, work: work) { (body($0, $1), 0) }.0
    }

    /// Like `split` for bodies with two Double sums, each added up in piece order. Unlike
    /// `split`, the pieces are fixed by the size of the work alone (about
    /// `minimumParallelCount` elements each), never by the thread count; the threads take
    /// pieces in turn and the sums are added in piece order. So a loss is the same number for
    /// any `threads` (OpenBLAS's gemms and dots still move in the last bits with its own
    /// thread count).
    @inline(__always) static func splitSums(_ count: Int, alignment: Int = V.scalarCount, work: Int? = nil,
                                            _ body: (Int, Int) -> (Double, Double)) -> (Double, Double) {
        let w = max(work ?? count, 1)
        if count == 0 || w < ElementwiseParallelism.minimumParallelCount { return body(0, count) }
        let units = max(1, (ElementwiseParallelism.minimumParallelCount * count + w - 1) / w)
        let piece = (units + alignment - 1) / alignment * alignment
        let pieces = (count + piece - 1) / piece
        let t = max(1, min(ElementwiseParallelism.threads, pieces))
        return withUnsafeTemporaryAllocation(of: (Double, Double).self, capacity: pieces) { partial in
            partial.initialize(repeating: (0, 0))
            let base = UncheckedSendable(value: partial.baseAddress!)
            withoutActuallyEscaping(body) { body in
                let box = UncheckedSendable(value: body)
                let run: @Sendable (Int) -> Void = { k in
                    var j = k
                    while j < pieces {
                        let start = j * piece
                        base.value[j] = box.value(start, min(piece, count - start))
                        j += t
                    }
                }
                if t == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: t, execute: run) }
            }
            return partial.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
    }

    @inline(__always) static func load(_ p: UnsafePointer<S>, _ count: Int) -> V {
        if count >= V.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        var v = V()
        for k in 0..<count { v[k] = p[k] }
        return v
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<S>, _ count: Int) {
        if count >= V.scalarCount { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self); return }
        for k in 0..<count { p[k] = v[k] }
    }
    /// Sum of the first `count` lanes of v, in Double.
    @inline(__always) static func laneSum(_ v: V, _ count: Int) -> Double {
        var s = 0.0
        for k in 0..<min(count, V.scalarCount) { s += Double(v[k]) }
        return s
    }

    /// x = op(x)
    @inline(__always) static func map(_ x: UnsafeMutablePointer<S>, _ count: Int, _ op: (V) -> V) {
        split(count) { start, length in mapSerial(x + start, length, op) }
    }
    @inline(__always) static func mapSerial(_ x: UnsafeMutablePointer<S>, _ count: Int, _ op: (V) -> V) {
        var i = 0
        while i < count {
            let c = count - i
            store(op(load(x + i, c)), x + i, c)
            i += V.scalarCount
        }
    }
    /// x = op(x, y)
    @inline(__always) static func zip(_ x: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>, _ count: Int, _ op: (V, V) -> V) {
        split(count) { start, length in zipSerial(x + start, y + start, length, op) }
    }
    @inline(__always) static func zipSerial(_ x: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>, _ count: Int, _ op: (V, V) -> V) {
        var i = 0
        while i < count {
            let c = count - i
            store(op(load(x + i, c), load(y + i, c)), x + i, c)
            i += V.scalarCount
        }
    }

    @inline(__always) static func logisticLanes(_ z: V) -> V { 1 / (1 + V.exp(-z)) }

    static func logistic(_ x: UnsafeMutablePointer<S>, _ count: Int) { map(x, count) { logisticLanes($0) } }

    /// log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3, by its odd series
    /// 2 s sum_k s^(2k) / (2k+1) (no cancellation). s^2 <= 1/9, so 8 terms reach Float and 16
    /// terms Double precision. Written out term by term: a loop over a coefficient table
    /// is not unrolled and cost more than the rest of the cross-entropy kernel.
    @inline(__always) static func log1pSmall(_ e: V) -> V {
        let s = e / (2 + e)
        let s2 = s * s
        var p = V(repeating: 1 / 15)
        if S.significandBitCount > 30 {
            p = V(repeating: 1 / 31)
            p = p * s2 + V(repeating: 1 / 29)
            p = p * s2 + V(repeating: 1 / 27)
            p = p * s2 + V(repeating: 1 / 25)
            p = p * s2 + V(repeating: 1 / 23)
            p = p * s2 + V(repeating: 1 / 21)
            p = p * s2 + V(repeating: 1 / 19)
            p = p * s2 + V(repeating: 1 / 17)
            p = p * s2 + V(repeating: 1 / 15)
        }
        p = p * s2 + V(repeating: 1 / 13)
        p = p * s2 + V(repeating: 1 / 11)
        p = p * s2 + V(repeating: 1 / 9)
        p = p * s2 + V(repeating: 1 / 7)
        p = p * s2 + V(repeating: 1 / 5)
        p = p * s2 + V(repeating: 1 / 3)
        p = p * s2 + V(repeating: 1)
        return 2 * s * p
    }

    /// The cross-entropy sum and, with `withSquaredError`, the sum of (y - t)^2 from the same
    /// pass (0 otherwise).
    static func logisticCrossEntropy(_ z: UnsafeMutablePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?, _ count: Int,
                                     withSquaredError: Bool) -> (loss: Double, squaredError: Double) {
        let sums = splitSums(count) { start, length in
            withSquaredError
                ? logisticCrossEntropySerial(z + start, t + start, gradient.map { $0 + start }, length, squaredError: true)
                : logisticCrossEntropySerial(z + start, t + start, gradient.map { $0 + start }, length, squaredError: false)
        }
        return (sums.0, sums.1)
    }
    @inline(__always) static func logisticCrossEntropySerial(_ z: UnsafeMutablePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?,
                                                             _ count: Int, squaredError: Bool) -> (Double, Double) {
        var total = 0.0, totalSquares = 0.0
        var block = V(), squares = V()
        var inBlock = 0
        var i = 0
        while i < count {
            let c = count - i
            let zv = load(z + i, c), tv = load(t + i, c)
            let e = V.exp(-V.magnitude(zv))
            // softplus(z) - t z = max(z, 0) - t z + log(1 + exp(-|z|))
            let positive = V.select(V(), zv, bySignOf: zv)
            var loss = positive - tv * zv + log1pSmall(e)
            if c < V.scalarCount { loss = loss.replacing(with: 0, where: V.indexMask(lessThan: c).negated) }
            block += loss
            // y = 1/(1+e) for z >= 0, e/(1+e) for z < 0, from the same e.
            let inverse = 1 / (1 + e)
            let y = V.select(e * inverse, inverse, bySignOf: zv)
            store(y, z + i, c)
            var d = y - tv
            if let g = gradient { store(d, g + i, c) }
            if squaredError {
                // Padding lanes of the last vector hold y = 1/2, t = 0: leave them out.
                if c < V.scalarCount { d = d.replacing(with: 0, where: V.indexMask(lessThan: c).negated) }
                squares += d * d
            }
            i += V.scalarCount
            inBlock += 1
            // Accumulate in lanes for a short block, then in Double (keeps Float sums accurate).
            if inBlock == 64 {
                total += laneSum(block, V.scalarCount); block = V()
                totalSquares += laneSum(squares, V.scalarCount); squares = V()
                inBlock = 0
            }
        }
        return (total + laneSum(block, V.scalarCount), totalSquares + laneSum(squares, V.scalarCount))
    }

    static func squaredError(_ y: UnsafePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?, _ count: Int) -> Double {
        splitSum(count) { start, length in squaredErrorSerial(y + start, t + start, gradient.map { $0 + start }, length) }
    }
    static func squaredErrorSerial(_ y: UnsafePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?, _ count: Int) -> Double {
        var total = 0.0
        var block = V()
        var inBlock = 0
        var i = 0
        while i < count {
            let c = count - i
            let d = load(y + i, c) - load(t + i, c) // padding lanes are 0 - 0
            block += d * d
            if let g = gradient { store(2 * d, g + i, c) }
            i += V.scalarCount
            inBlock += 1
            if inBlock == 64 { total += laneSum(block, V.scalarCount); block = V(); inBlock = 0 }
        }
        return total + laneSum(block, V.scalarCount)
    }

    /// Softmax of one row in place; returns log(sum exp(z - max)) + max = logsumexp(z).
    @inline(__always) static func softmaxRow(_ z: UnsafeMutablePointer<S>, _ n: Int) -> Double {
        var m = -S.greatestFiniteMagnitude
        var j = 0
        while j < n {
            let c = n - j
            let v = load(z + j, c)
            for k in 0..<min(c, V.scalarCount) { m = Swift.max(m, v[k]) }
            j += V.scalarCount
        }
        var sum = 0.0
        j = 0
        while j < n {
            let c = n - j
            let e = V.exp(load(z + j, c) - V(repeating: m))
            sum += laneSum(e, c)
            store(e, z + j, c)
            j += V.scalarCount
        }
        let inverse = V(repeating: S(1 / sum))
        j = 0
        while j < n {
            let c = n - j
            store(load(z + j, c) * inverse, z + j, c)
            j += V.scalarCount
        }
        return _log(sum) + Double(m)
    }

    static func softmaxCrossEntropy(_ z: UnsafeMutablePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?, _ rows: Int, _ columns: Int) -> Double {
        splitSum(rows, alignment: 1, work: rows * columns) { start, count in
            softmaxCrossEntropySerial(z + start * columns, t + start * columns, gradient.map { $0 + start * columns }, count, columns)
        }
    }
    static func softmaxCrossEntropySerial(_ z: UnsafeMutablePointer<S>, _ t: UnsafePointer<S>, _ gradient: UnsafeMutablePointer<S>?, _ rows: Int, _ columns: Int) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let zr = z + r * columns, tr = t + r * columns
            // -sum t_j log y_j = sum t_j (lse - z_j): needs z before it is overwritten.
            var tz = 0.0, tsum = 0.0
            for j in 0..<columns { tz += Double(tr[j]) * Double(zr[j]); tsum += Double(tr[j]) }
            let lse = softmaxRow(zr, columns)
            total += tsum * lse - tz
            if let g = gradient {
                let gr = g + r * columns
                var j = 0
                while j < columns {
                    let c = columns - j
                    store(load(zr + j, c) - load(tr + j, c), gr + j, c)
                    j += V.scalarCount
                }
            }
        }
        return total
    }

    static func multiplyBySoftmaxHessian(_ r: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>, _ rows: Int, _ columns: Int) {
        split(rows, alignment: 1, work: rows * columns) { start, count in
            multiplyBySoftmaxHessianSerial(r + start * columns, y + start * columns, count, columns)
        }
    }
    static func multiplyBySoftmaxHessianSerial(_ r: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>, _ rows: Int, _ columns: Int) {
        for i in 0..<rows {
            let rr = r + i * columns, yr = y + i * columns
            var acc = V()
            var j = 0
            while j < columns {
                let c = columns - j
                acc += load(rr + j, c) * load(yr + j, c)
                j += V.scalarCount
            }
            let yDotR = V(repeating: S(laneSum(acc, V.scalarCount)))
            j = 0
            while j < columns {
                let c = columns - j
                let yv = load(yr + j, c)
                store(yv * (load(rr + j, c) - yDotR), rr + j, c)
                j += V.scalarCount
            }
        }
    }

    static func addColumnSums(_ m: UnsafePointer<S>, _ rows: Int, _ columns: Int, _ alpha: S, _ sums: UnsafeMutablePointer<S>) {
        // Threads take disjoint column strips, so the result does not depend on the split.
        split(columns, alignment: 4 * V.scalarCount, work: rows * columns) { start, width in
            addColumnSumsSerial(m + start, rows, width, rowStride: columns, alpha, sums + start)
        }
    }
    static func addColumnSumsSerial(_ m: UnsafePointer<S>, _ rows: Int, _ columns: Int, rowStride: Int, _ alpha: S, _ sums: UnsafeMutablePointer<S>) {
        // Sum column strips of 4 lane vectors over all rows in registers, then add once.
        let a = V(repeating: alpha)
        var j = 0
        let strip = 4 * V.scalarCount
        while j + strip <= columns {
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var p = m + j
            for _ in 0..<rows {
                s0 += load(p, V.scalarCount)
                s1 += load(p + V.scalarCount, V.scalarCount)
                s2 += load(p + 2 * V.scalarCount, V.scalarCount)
                s3 += load(p + 3 * V.scalarCount, V.scalarCount)
                p += rowStride
            }
            let o = sums + j
            store(load(o, V.scalarCount) + a * s0, o, V.scalarCount)
            store(load(o + V.scalarCount, V.scalarCount) + a * s1, o + V.scalarCount, V.scalarCount)
            store(load(o + 2 * V.scalarCount, V.scalarCount) + a * s2, o + 2 * V.scalarCount, V.scalarCount)
            store(load(o + 3 * V.scalarCount, V.scalarCount) + a * s3, o + 3 * V.scalarCount, V.scalarCount)
            j += strip
        }
        while j < columns {
            let c = columns - j
            var s = V()
            var p = m + j
            for _ in 0..<rows { s += load(p, c); p += rowStride }
            store(load(sums + j, c) + a * s, sums + j, c)
            j += V.scalarCount
        }
    }

    /// x = op(x, y) over a rows x columns matrix, and sums += alpha * column sums of the new x.
    /// Threads take disjoint column bands; each band's sums build up in lane registers
    /// spilled to a small buffer, row after row (the order of `addColumnSums`).
    @inline(__always) static func zipAddingColumnSums(_ x: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>, _ rows: Int, _ columns: Int,
                                                      _ alpha: S, _ sums: UnsafeMutablePointer<S>, _ op: (V, V) -> V) {
        split(columns, alignment: V.scalarCount, work: rows * columns) { start, width in
            let vectors = (width + V.scalarCount - 1) / V.scalarCount
            withUnsafeTemporaryAllocation(of: V.self, capacity: vectors) { acc in
                acc.initialize(repeating: V())
                for i in 0..<rows {
                    let xr = x + i * columns + start, yr = y + i * columns + start
                    var j = 0, k = 0
                    while j < width {
                        let c = width - j
                        let v = op(load(xr + j, c), load(yr + j, c))
                        store(v, xr + j, c)
                        acc[k] += v
                        j += V.scalarCount; k += 1
                    }
                }
                let a = V(repeating: alpha)
                var j = 0, k = 0
                while j < width {
                    let c = width - j
                    // Lanes past `c` never reach `sums`.
                    store(load(sums + start + j, c) + a * acc[k], sums + start + j, c)
                    j += V.scalarCount; k += 1
                }
            }
        }
    }

    static func multiplyByDerivative(_ derivative: UnitDerivative, _ x: UnsafeMutablePointer<S>, _ y: UnsafePointer<S>,
                                     _ rows: Int, _ columns: Int, _ alpha: S, _ sums: UnsafeMutablePointer<S>) {
        switch derivative {
        case .logistic: zipAddingColumnSums(x, y, rows, columns, alpha, sums) { $0 * ($1 * (1 - $1)) }
        case .tanh: zipAddingColumnSums(x, y, rows, columns, alpha, sums) { $0 * (1 - $1 * $1) }
        case .rectifiedLinear: zipAddingColumnSums(x, y, rows, columns, alpha, sums) { $0.replacing(with: 0, where: $1 .<= 0) }
        case .linear: addColumnSums(x, rows, columns, alpha, sums)
        }
    }

    /// destination = source^2
    static func square(_ source: UnsafePointer<S>, _ destination: UnsafeMutablePointer<S>, _ count: Int) {
        split(count) { start, length in
            var i = start
            while i < start + length {
                let c = start + length - i
                let v = load(source + i, c)
                store(v * v, destination + i, c)
                i += V.scalarCount
            }
        }
    }

    static func addRowDots(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ rows: Int, _ columns: Int, _ sums: UnsafeMutablePointer<S>) {
        split(rows, alignment: 1, work: rows * columns) { start, count in
            addRowDotsSerial(a + start * columns, b + start * columns, count, columns, sums + start)
        }
    }
    static func addRowDotsSerial(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ rows: Int, _ columns: Int, _ sums: UnsafeMutablePointer<S>) {
        for i in 0..<rows {
            var acc = V()
            var j = 0
            let ar = a + i * columns, br = b + i * columns
            while j < columns {
                let c = columns - j
                acc += load(ar + j, c) * load(br + j, c)
                j += V.scalarCount
            }
            sums[i] += S(laneSum(acc, V.scalarCount))
        }
    }
}

extension SIMD where Self: _FloatLanes {
    /// Lanes 0..<count set.
    @inline(__always) static func indexMask(lessThan count: Int) -> SIMDMask<MaskStorage> {
        var m = SIMDMask<MaskStorage>()
        for k in 0..<Swift.min(count, scalarCount) { m[k] = true }
        return m
    }
}

extension SIMDMask {
    @inline(__always) var negated: SIMDMask { .!self }
}

// MARK: - Conformances (one dispatch per call, specialized bodies)

/// The body of every requirement, shared by Float (SIMD8) and Double (SIMD4).
public protocol _ElementwiseImplementation: BLASScalar {
    associatedtype Lanes: _FloatLanes where Lanes.Scalar == Self
}
extension Float: _ElementwiseImplementation { public typealias Lanes = SIMD8<Float> }
extension Double: _ElementwiseImplementation { public typealias Lanes = SIMD4<Double> }

extension _ElementwiseImplementation {
    public static func logistic(_ x: UnsafeMutablePointer<Self>, count: Int) {
        Kernels<Lanes>.logistic(x, count)
    }
    public static func hyperbolicTangent(_ x: UnsafeMutablePointer<Self>, count: Int) {
        Kernels<Lanes>.map(x, count) { 2 * Kernels<Lanes>.logisticLanes(2 * $0) - 1 }
    }
    public static func rectifiedLinear(_ x: UnsafeMutablePointer<Self>, count: Int) {
        Kernels<Lanes>.map(x, count) { $0.replacing(with: 0, where: $0 .< 0) }
    }
    public static func exponential(_ x: UnsafeMutablePointer<Self>, count: Int) {
        Kernels<Lanes>.map(x, count) { Lanes.exp($0) }
    }
    public static func multiplyByLogisticDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0 * ($1 * (1 - $1)) }
    }
    public static func multiplyByTanhDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0 * (1 - $1 * $1) }
    }
    public static func multiplyByReluDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0.replacing(with: 0, where: $1 .<= 0) }
    }
    public static func multiplyByLogisticSecondDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0 * ($1 * (1 - $1) * (1 - 2 * $1)) }
    }
    public static func multiplyByTanhSecondDerivative(_ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0 * (-2 * $1 * (1 - $1 * $1)) }
    }
    public static func logisticCrossEntropy(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                            gradient: UnsafeMutablePointer<Self>?, count: Int) -> Double {
        Kernels<Lanes>.logisticCrossEntropy(z, t, gradient, count, withSquaredError: false).loss
    }
    public static func logisticCrossEntropyAndSquaredError(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                                           gradient: UnsafeMutablePointer<Self>?, count: Int) -> (loss: Double, squaredError: Double) {
        Kernels<Lanes>.logisticCrossEntropy(z, t, gradient, count, withSquaredError: true)
    }
    public static func squaredError(_ y: UnsafePointer<Self>, targets t: UnsafePointer<Self>,
                                    gradient: UnsafeMutablePointer<Self>?, count: Int) -> Double {
        Kernels<Lanes>.squaredError(y, t, gradient, count)
    }
    public static func softmaxCrossEntropy(_ z: UnsafeMutablePointer<Self>, targets t: UnsafePointer<Self>,
                                           gradient: UnsafeMutablePointer<Self>?, rows: Int, columns: Int) -> Double {
        Kernels<Lanes>.softmaxCrossEntropy(z, t, gradient, rows, columns)
    }
    public static func softmaxRows(_ z: UnsafeMutablePointer<Self>, rows: Int, columns: Int) {
        Kernels<Lanes>.split(rows, alignment: 1, work: rows * columns) { start, count in
            for r in start..<(start + count) { _ = Kernels<Lanes>.softmaxRow(z + r * columns, columns) }
        }
    }
    public static func multiplyBySoftmaxHessian(_ r: UnsafeMutablePointer<Self>, probabilities y: UnsafePointer<Self>,
                                                rows: Int, columns: Int) {
        Kernels<Lanes>.multiplyBySoftmaxHessian(r, y, rows, columns)
    }
    public static func broadcastRow(_ row: UnsafePointer<Self>, into matrix: UnsafeMutablePointer<Self>, rows: Int, columns: Int) {
        Kernels<Lanes>.split(rows, alignment: 1, work: rows * columns) { start, count in
            for i in start..<(start + count) { (matrix + i * columns).update(from: row, count: columns) }
        }
    }
    public static func addColumnSums(of matrix: UnsafePointer<Self>, rows: Int, columns: Int, scaledBy alpha: Self,
                                     into sums: UnsafeMutablePointer<Self>) {
        Kernels<Lanes>.addColumnSums(matrix, rows, columns, alpha, sums)
    }
    public static func multiplyByDerivative(_ derivative: UnitDerivative, _ x: UnsafeMutablePointer<Self>, outputs y: UnsafePointer<Self>,
                                            rows: Int, columns: Int, addingColumnSumsScaledBy alpha: Self, into sums: UnsafeMutablePointer<Self>) {
        Kernels<Lanes>.multiplyByDerivative(derivative, x, y, rows, columns, alpha, sums)
    }
    public static func square(_ source: UnsafePointer<Self>, into destination: UnsafeMutablePointer<Self>, count: Int) {
        Kernels<Lanes>.square(source, destination, count)
    }
    public static func multiply(_ x: UnsafeMutablePointer<Self>, by y: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.zip(x, y, count) { $0 * $1 }
    }
    public static func addProduct(_ x: UnsafeMutablePointer<Self>, _ y: UnsafePointer<Self>, _ w: UnsafePointer<Self>, count: Int) {
        Kernels<Lanes>.split(count) { start, length in
            var i = start
            while i < start + length {
                let c = start + length - i
                let v = Kernels<Lanes>.load(x + i, c) + Kernels<Lanes>.load(y + i, c) * Kernels<Lanes>.load(w + i, c)
                Kernels<Lanes>.store(v, x + i, c)
                i += Lanes.scalarCount
            }
        }
    }
    public static func addRowDots(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, rows: Int, columns: Int,
                                  into sums: UnsafeMutablePointer<Self>) {
        Kernels<Lanes>.addRowDots(a, b, rows, columns, sums)
    }
    public static func scaleRows(_ matrix: UnsafeMutablePointer<Self>, by scales: UnsafePointer<Self>, rows: Int, columns: Int) {
        Kernels<Lanes>.split(rows, alignment: 1, work: rows * columns) { start, count in
            for i in start..<(start + count) {
                let s = Lanes(repeating: scales[i])
                Kernels<Lanes>.mapSerial(matrix + i * columns, columns) { $0 * s }
            }
        }
    }
    public static func squaredDifferenceSum(_ y: UnsafePointer<Self>, _ t: UnsafePointer<Self>, count: Int) -> Double {
        Kernels<Lanes>.squaredError(y, t, nil, count)
    }
}

extension Float: ElementwiseScalar {}
extension Double: ElementwiseScalar {}
