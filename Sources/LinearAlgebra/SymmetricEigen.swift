import CBLAS

/// The eigen-decomposition A = V diag(values) V' of a real symmetric matrix, by LAPACK's
/// `dsyev` (OpenBLAS ships LAPACK), in Double.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues, largest first.
    public let values: [Double]
    /// Orthonormal eigenvectors: row i belongs to `values[i]`.
    public let vectors: Matrix<Double>

    /// Decomposes `a`, which must be square and symmetric (only its upper triangle, in
    /// row-major terms, is read). Nil when LAPACK reports failure (no convergence or a
    /// non-finite entry).
    public init?(_ a: Matrix<Double>) {
        precondition(a.rows == a.columns, "SymmetricEigen: matrix is \(a.rows)x\(a.columns), not square")
        let n = a.rows
        guard n > 0 else { values = []; vectors = Matrix(rows: 0, columns: 0); return }
        guard a.storage.allSatisfy({ $0.isFinite }), n <= Int(Int32.max) else { return nil }
        // Row-major storage read as column-major is the transpose, the same symmetric matrix;
        // its upper triangle is LAPACK's lower one. LAPACK returns eigenvectors as columns of
        // the column-major result, that is as rows of the row-major one, smallest value first.
        // One OpenBLAS thread: dsyev is mostly small level-2 steps, which threads do not speed
        // up at these sizes, and whose spinning threads slowed a 784 x 784 decomposition from
        // 0.6 s to 16 s when the other cores were busy (measured with two training runs on the
        // 2-core machine). The caller's setting is restored.
        let threads = BLASThreads.current
        BLASThreads.set(1)
        defer { BLASThreads.set(threads) }
        var storage = Array(a.storage)
        var w = [Double](repeating: 0, count: n)
        var order = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, query = 0.0
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "L"))
        dsyev_(&jobz, &uplo, &order, &storage, &order, &w, &query, &lwork, &info)
        guard info == 0 else { return nil }
        lwork = Int32(max(query, Double(3 * n)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jobz, &uplo, &order, &storage, &order, &w, &work, &lwork, &info)
        guard info == 0 else { return nil }
        var sorted = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            let source = n - 1 - i
            for j in 0..<n { sorted[i * n + j] = storage[source * n + j] }
        }
        values = Array(w.reversed())
        vectors = Matrix(rows: n, columns: n, elements: sorted)
    }
}
