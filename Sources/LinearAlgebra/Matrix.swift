/// A read-only row-major matrix view: `rows x columns`, row `i` starts at `base + i * rowStride`.
///
/// Views never own memory: they point into a `Matrix`, a `Vector` (a layer's weights inside the
/// flat parameter buffer) or any other storage that outlives the view.
public struct MatrixView<Scalar: BLASScalar> {
    public let base: UnsafePointer<Scalar>
    public let rows: Int
    public let columns: Int
    public let rowStride: Int

    public init(base: UnsafePointer<Scalar>, rows: Int, columns: Int, rowStride: Int? = nil) {
        let stride = rowStride ?? columns
        precondition(rows >= 0 && columns >= 0 && stride >= max(columns, 1), "bad view shape \(rows)x\(columns) stride \(stride)")
        self.base = base; self.rows = rows; self.columns = columns; self.rowStride = stride
    }
    @inline(__always) public subscript(i: Int, j: Int) -> Scalar { base[i * rowStride + j] }
    /// Rows `range` of this view.
    public func rows(_ range: Range<Int>) -> MatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        return MatrixView(base: base + range.lowerBound * rowStride, rows: range.count, columns: columns, rowStride: rowStride)
    }
}

/// A mutable row-major matrix view (see `MatrixView`).
public struct MutableMatrixView<Scalar: BLASScalar> {
    public let base: UnsafeMutablePointer<Scalar>
    public let rows: Int
    public let columns: Int
    public let rowStride: Int

    public init(base: UnsafeMutablePointer<Scalar>, rows: Int, columns: Int, rowStride: Int? = nil) {
        let stride = rowStride ?? columns
        precondition(rows >= 0 && columns >= 0 && stride >= max(columns, 1), "bad view shape \(rows)x\(columns) stride \(stride)")
        self.base = base; self.rows = rows; self.columns = columns; self.rowStride = stride
    }
    @inline(__always) public subscript(i: Int, j: Int) -> Scalar {
        get { base[i * rowStride + j] }
        nonmutating set { base[i * rowStride + j] = newValue }
    }
    public var readOnly: MatrixView<Scalar> { MatrixView(base: UnsafePointer(base), rows: rows, columns: columns, rowStride: rowStride) }
    public func rows(_ range: Range<Int>) -> MutableMatrixView {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        return MutableMatrixView(base: base + range.lowerBound * rowStride, rows: range.count, columns: columns, rowStride: rowStride)
    }
    /// True when rows are contiguous, so the whole view is one flat buffer.
    public var isContiguous: Bool { rowStride == columns || rows <= 1 }
}

/// An owning row-major matrix (cases x units for activations). Used for work buffers that
/// are allocated once and reused; `resize(rows:)` never shrinks capacity.
public struct Matrix<Scalar: BLASScalar>: Sendable, Equatable {
    public private(set) var rows: Int
    public let columns: Int
    public var storage: [Scalar]

    public init(rows: Int, columns: Int, repeating value: Scalar = 0) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape \(rows)x\(columns)")
        self.rows = rows; self.columns = columns
        storage = [Scalar](repeating: value, count: rows * columns)
    }
    public init(rows: Int, columns: Int, elements: [Scalar]) {
        precondition(elements.count == rows * columns, "matrix \(rows)x\(columns) needs \(rows * columns) elements, got \(elements.count)")
        self.rows = rows; self.columns = columns; storage = elements
    }
    public subscript(i: Int, j: Int) -> Scalar {
        get { storage[i * columns + j] }
        set { storage[i * columns + j] = newValue }
    }
    /// Changes the number of rows, keeping allocated capacity (contents unspecified).
    public mutating func resize(rows newRows: Int) {
        precondition(newRows >= 0)
        if newRows * columns > storage.count {
            storage.append(contentsOf: repeatElement(0, count: newRows * columns - storage.count))
        }
        rows = newRows
    }
    public static func == (a: Matrix, b: Matrix) -> Bool {
        a.rows == b.rows && a.columns == b.columns && a.storage[0..<(a.rows * a.columns)] == b.storage[0..<(b.rows * b.columns)]
    }
    public func withView<R>(_ body: (MatrixView<Scalar>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { p in
            try body(MatrixView(base: p.baseAddress!, rows: rows, columns: columns))
        }
    }
    public mutating func withMutableView<R>(_ body: (MutableMatrixView<Scalar>) throws -> R) rethrows -> R {
        let (r, c) = (rows, columns)
        return try storage.withUnsafeMutableBufferPointer { p in
            try body(MutableMatrixView(base: p.baseAddress!, rows: r, columns: c))
        }
    }
}

/// C = alpha * op(A) * op(B) + beta * C with shapes checked (all row-major).
///
/// Flop count: 2 * m * n * k where op(A) is m x k and op(B) is k x n.
@inline(__always)
public func gemm<Scalar: BLASScalar>(_ a: MatrixView<Scalar>, _ transA: Transpose = .none,
                                     _ b: MatrixView<Scalar>, _ transB: Transpose = .none,
                                     into c: MutableMatrixView<Scalar>, alpha: Scalar = 1, beta: Scalar = 0) {
    let (m, ka) = transA == .none ? (a.rows, a.columns) : (a.columns, a.rows)
    let (kb, n) = transB == .none ? (b.rows, b.columns) : (b.columns, b.rows)
    precondition(ka == kb, "gemm: inner dimensions \(ka) and \(kb) differ")
    precondition(c.rows == m && c.columns == n, "gemm: result is \(c.rows)x\(c.columns), expected \(m)x\(n)")
    if m == 0 || n == 0 { return }
    if ka == 0 {
        // BLAS leaves C untouched for k == 0 only when beta == 1; make it explicit.
        for i in 0..<m { for j in 0..<n { c[i, j] = beta == 0 ? 0 : beta * c[i, j] } }
        return
    }
    Scalar.gemm(transA, transB, m: m, n: n, k: ka, alpha: alpha, a: a.base, lda: a.rowStride,
                b: b.base, ldb: b.rowStride, beta: beta, c: c.base, ldc: c.rowStride)
}
