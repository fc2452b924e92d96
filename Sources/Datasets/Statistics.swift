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

    enum CodingKeys: String, CodingKey {
        case name, train, validation, test, dimension, min, max, mean, variance
        case imageWidth = "image_width", imageHeight = "image_height"
        case meanSumPerCase = "mean_sum_per_case", meanImageError = "mean_image_error"
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
