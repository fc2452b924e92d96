/// A flat vector of `Scalar`: parameters, gradients, curvature products, CG vectors and
/// preconditioners all use this one layout, so every whole-vector operation is a single
/// BLAS level-1 call over one contiguous buffer.
///
/// Value semantics (copy on write). Hot loops mutate in place through the `inout`
/// operations below, which never allocate once the vector exists.
public struct Vector<Scalar: BLASScalar>: Sendable, Equatable, Codable {
    public var elements: [Scalar]

    /// A vector of `count` zeros.
    public init(zeros count: Int) {
        precondition(count >= 0, "negative vector length \(count)")
        // All-zero bytes are 0.0 in both Float and Double. Filling the bytes skips the
        // per-element witness copies `[Scalar](repeating: 0, count:)` makes in generic code
        // (a new gradient of 2.84 million parameters on every mini-batch step).
        elements = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0) }
            initialized = count
        }
    }
    public init(repeating value: Scalar, count: Int) { elements = [Scalar](repeating: value, count: count) }
    public init(_ elements: [Scalar]) { self.elements = elements }
    /// Converts between precisions (Float <-> Double).
    public init<Other: BLASScalar>(converting other: Vector<Other>) {
        elements = other.elements.map { Scalar($0) }
    }

    public var count: Int { elements.count }
    public subscript(i: Int) -> Scalar {
        get { elements[i] }
        set { elements[i] = newValue }
    }

    // MARK: BLAS level-1, Double accumulation for reductions

    /// self . other, accumulated in Double.
    public func dot(_ other: Vector) -> Double {
        precondition(count == other.count, "dot: lengths \(count) and \(other.count) differ")
        return elements.withUnsafeBufferPointer { x in
            other.elements.withUnsafeBufferPointer { y in
                count == 0 ? 0 : Scalar.dot(n: count, x: x.baseAddress!, incx: 1, y: y.baseAddress!, incy: 1)
            }
        }
    }
    /// Euclidean norm (Double).
    public var norm: Double {
        elements.withUnsafeBufferPointer { x in count == 0 ? 0 : Scalar.nrm2(n: count, x: x.baseAddress!, incx: 1) }
    }
    /// self += alpha * x
    public mutating func add(_ x: Vector, scaledBy alpha: Scalar = 1) {
        precondition(count == x.count, "axpy: lengths \(x.count) and \(count) differ")
        let n = count
        if n == 0 { return }
        x.elements.withUnsafeBufferPointer { xp in
            elements.withUnsafeMutableBufferPointer { yp in
                Scalar.axpy(n: n, alpha: alpha, x: xp.baseAddress!, incx: 1, y: yp.baseAddress!, incy: 1)
            }
        }
    }
    /// self *= alpha
    public mutating func scale(by alpha: Scalar) {
        let n = count
        if n == 0 { return }
        elements.withUnsafeMutableBufferPointer { p in Scalar.scal(n: n, alpha: alpha, x: p.baseAddress!, incx: 1) }
    }
    /// self = x (same length; reuses this buffer).
    public mutating func assign(_ x: Vector) {
        precondition(count == x.count, "assign: lengths \(x.count) and \(count) differ")
        let n = count
        if n == 0 { return }
        elements.withUnsafeMutableBufferPointer { d in
            x.elements.withUnsafeBufferPointer { s in
                d.baseAddress!.update(from: s.baseAddress!, count: n)
            }
        }
    }
    /// Sets every element to zero without reallocating.
    public mutating func setZero() {
        elements.withUnsafeMutableBufferPointer { p in p.update(repeating: 0) }
    }
    /// self = self * y elementwise.
    public mutating func multiply(elementwiseBy y: Vector) {
        precondition(count == y.count, "multiply: lengths \(y.count) and \(count) differ")
        if count == 0 { return }
        elements.withUnsafeMutableBufferPointer { a in
            y.elements.withUnsafeBufferPointer { b in Scalar.multiply(n: a.count, x: a.baseAddress!, by: b.baseAddress!) }
        }
    }
    /// self = self / y elementwise.
    public mutating func divide(elementwiseBy y: Vector) {
        precondition(count == y.count, "divide: lengths \(y.count) and \(count) differ")
        if count == 0 { return }
        elements.withUnsafeMutableBufferPointer { a in
            y.elements.withUnsafeBufferPointer { b in Scalar.divide(n: a.count, x: a.baseAddress!, by: b.baseAddress!) }
        }
    }
    /// True when every element is finite.
    public var isFinite: Bool {
        elements.withUnsafeBufferPointer { x in count == 0 || Scalar.allFinite(n: count, x: x.baseAddress!) }
    }
    /// Sum of squares, Double.
    public var squaredNorm: Double { dot(self) }
}

extension Vector: CustomStringConvertible {
    public var description: String { "Vector<\(Scalar.typeName)>(\(count))" }
}
