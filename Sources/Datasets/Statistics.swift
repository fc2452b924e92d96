import LinearAlgebra

/// Summary statistics of a data set, all accumulated in Double.
public struct DatasetSummary: Sendable, Codable, Equatable {
    public var name: String
    public var train: Int
    public var validation: Int?
    public var test: Int
    public var dimension: Int
    public var imageWidth: Int?
    public var imageHeight: Int?
    /// Smallest and largest training value.
    public var min: Double
    public var max: Double
    /// Mean over all training values.
    public var mean: Double
    /// Per-pixel variance over the training cases (population, divided by N), averaged over pixels.
    public var variance: Double
    /// Mean over training cases of the sum of the case's values ("ink" per image).
    public var meanSumPerCase: Double
    /// Per-case sum of squared errors of predicting the mean training image, on each split.
    /// On the training set this equals dimension x variance.
    public var meanImageError: [String: Double]
    /// Per-case squared error of standard PCA with k components, by k (as a string) and split;
    /// nil unless asked for (`hf data summary --pca`). See `Dataset.pcaErrors`.
    public var pcaError: [String: [String: Double]]? = nil

    enum CodingKeys: String, CodingKey {
        case name, train, validation, test, dimension, min, max, mean, variance
        case imageWidth = "image_width", imageHeight = "image_height"
        case meanSumPerCase = "mean_sum_per_case", meanImageError = "mean_image_error", pcaError = "pca_error"
    }
}

extension Dataset {
    /// The mean training image (one value per input).
    public func meanTrainingImage() -> [Double] {
        var sum = [Double](repeating: 0, count: dimension)
        train.storage.withUnsafeBufferPointer { p in
            for i in 0..<train.rows {
                let row = p.baseAddress! + i * dimension
                for j in 0..<dimension { sum[j] += Double(row[j]) }
            }
        }
        let n = Double(Swift.max(train.rows, 1))
        return sum.map { $0 / n }
    }

    /// Per-case sum of squared differences between each case of `m` and `image`.
    public static func meanSquaredDistance(_ m: Matrix<Float>, to image: [Double]) -> Double {
        guard m.rows > 0 else { return 0 }
        var total = 0.0
        m.storage.withUnsafeBufferPointer { p in
            for i in 0..<m.rows {
                let row = p.baseAddress! + i * m.columns
                var s = 0.0
                for j in 0..<m.columns { let d = Double(row[j]) - image[j]; s += d * d }
                total += s
            }
        }
        return total / Double(m.rows)
    }

    /// The statistics `hf data summary` prints.
    public func summary() -> DatasetSummary {
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0
        train.storage.withUnsafeBufferPointer { p in
            for k in 0..<(train.rows * dimension) {
                let v = Double(p[k])
                lo = Swift.min(lo, v); hi = Swift.max(hi, v); sum += v
            }
        }
        let mean = meanTrainingImage()
        var errors = ["train": Dataset.meanSquaredDistance(train, to: mean)]
        if let validation { errors["validation"] = Dataset.meanSquaredDistance(validation, to: mean) }
        if test.rows > 0 { errors["test"] = Dataset.meanSquaredDistance(test, to: mean) }
        let values = Double(Swift.max(train.rows * dimension, 1))
        return DatasetSummary(name: name, train: train.rows, validation: validation?.rows, test: test.rows,
                              dimension: dimension, imageWidth: imageWidth, imageHeight: imageHeight,
                              min: lo, max: hi, mean: sum / values,
                              variance: errors["train"]! / Double(Swift.max(dimension, 1)),
                              meanSumPerCase: sum / Double(Swift.max(train.rows, 1)),
                              meanImageError: errors)
    }
}

extension Dataset {
    /// Standard PCA's per-case squared reconstruction error with each number of `components`,
    /// on every split: the principal directions of the training set (its mean removed,
    /// covariance and eigenvectors in Double), reconstructions unclipped. Hinton &
    /// Salakhutdinov's Fig. 2 caption gives this number on the test set of each of their data
    /// sets (CURVES 18 components: 5.90; MNIST 30: 13.87; FACES 30: 135), which makes it a
    /// check of a look-alike data set that needs no optimizer. Keys: k, then split name.
    /// Nil when the eigensolver fails (a non-finite value in the data).
    public func pcaErrors(components: [Int]) -> [Int: [String: Double]]? {
        let d = dimension
        precondition(components.allSatisfy { $0 >= 0 && $0 <= d }, "PCA components must lie in 0...\(d)")
        let mean = meanTrainingImage()
        // Rows of `m` minus the mean, as Double, a block at a time (bounded memory).
        func centredBlocks(_ m: Matrix<Float>, _ body: (Matrix<Double>) -> Void) {
            let block = 4096
            var start = 0
            while start < m.rows {
                let n = Swift.min(block, m.rows - start)
                var x = Matrix<Double>(rows: n, columns: d)
                m.storage.withUnsafeBufferPointer { p in
                    for i in 0..<n {
                        let row = p.baseAddress! + (start + i) * d
                        for j in 0..<d { x.storage[i * d + j] = Double(row[j]) - mean[j] }
                    }
                }
                body(x)
                start += n
            }
        }
        var covariance = Matrix<Double>(rows: d, columns: d)
        centredBlocks(train) { x in
            x.withView { v in covariance.withMutableView { c in gemm(v, .transposed, v, .none, into: c, beta: 1) } }
        }
        guard let eigen = SymmetricEigen(covariance) else { return nil }
        let most = components.max() ?? 0
        // The leading `most` directions, as rows.
        let basis = Matrix<Double>(rows: most, columns: d, elements: Array(eigen.vectors.storage[0..<(most * d)]))
        var splits: [(String, Matrix<Float>)] = [("train", train)]
        if let validation { splits.append(("validation", validation)) }
        if test.rows > 0 { splits.append(("test", test)) }
        var result: [Int: [String: Double]] = [:]
        for (name, m) in splits {
            // error_k = |y|^2 - sum_{j < k} (v_j . y)^2 for each case y, summed over cases.
            var totals = [Double](repeating: 0, count: components.count)
            var captured = [Double](repeating: 0, count: most + 1)  // captured[k]: energy in the first k directions
            centredBlocks(m) { x in
                var projections = Matrix<Double>(rows: x.rows, columns: most)
                if most > 0 {
                    x.withView { v in basis.withView { b in projections.withMutableView { p in gemm(v, .none, b, .transposed, into: p) } } }
                }
                for i in 0..<x.rows {
                    var energy = 0.0
                    for j in 0..<d { energy += x.storage[i * d + j] * x.storage[i * d + j] }
                    for j in 0..<most { captured[j + 1] = captured[j] + projections.storage[i * most + j] * projections.storage[i * most + j] }
                    for (c, k) in components.enumerated() { totals[c] += energy - captured[k] }
                }
            }
            for (c, k) in components.enumerated() { result[k, default: [:]][name] = totals[c] / Double(Swift.max(m.rows, 1)) }
        }
        return result
    }
}
