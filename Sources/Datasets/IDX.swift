import Foundation
import LinearAlgebra

/// The IDX format of the MNIST files (LeCun et al.): a big-endian 32-bit magic number
/// `0x0000TTNN` (TT the element type, 0x08 = unsigned byte; NN the number of dimensions), then
/// NN big-endian 32-bit sizes, then the elements in row-major order.
public struct IDXArray: Sendable, Equatable {
    /// The sizes, outermost first (e.g. `[60000, 28, 28]`).
    public let shape: [Int]
    /// The elements, row-major.
    public let bytes: [UInt8]

    /// The magic number of an unsigned-byte IDX file with `dimensions` dimensions.
    public static func magic(dimensions: Int) -> UInt32 { 0x0000_0800 | UInt32(dimensions) }

    /// Parses an IDX file of unsigned bytes with exactly `dimensions` dimensions, checking the
    /// magic number, that no size is zero and that the file holds exactly the stated elements.
    /// - Parameter name: the file name used in error messages.
    public static func parse(_ data: [UInt8], dimensions: Int, name: String) throws -> IDXArray {
        if data.isEmpty { throw DatasetError.malformed(name, reason: "empty file") }
        guard data.count >= 4 else { throw DatasetError.truncated(name, expectedBytes: 4, actualBytes: data.count) }
        func word(_ at: Int) -> UInt32 {
            UInt32(data[at]) << 24 | UInt32(data[at + 1]) << 16 | UInt32(data[at + 2]) << 8 | UInt32(data[at + 3])
        }
        let found = word(0)
        let expected = magic(dimensions: dimensions)
        guard found == expected else { throw DatasetError.badMagic(name, found: found, expected: expected) }
        let headerBytes = 4 + 4 * dimensions
        guard data.count >= headerBytes else {
            throw DatasetError.truncated(name, expectedBytes: headerBytes, actualBytes: data.count)
        }
        var shape = [Int]()
        var count = 1
        for d in 0..<dimensions {
            let size = Int(word(4 + 4 * d))
            // A zero or absurd size is a corrupt header, not an empty data set.
            guard size > 0, size <= 1 << 28 else {
                throw DatasetError.malformed(name, reason: "dimension \(d + 1) has size \(size)")
            }
            shape.append(size)
            count = count.multipliedReportingOverflow(by: size).partialValue
            guard count <= 1 << 34 else { throw DatasetError.malformed(name, reason: "sizes \(shape) are too large") }
        }
        let total = headerBytes + count
        if data.count < total { throw DatasetError.truncated(name, expectedBytes: total, actualBytes: data.count) }
        if data.count > total {
            throw DatasetError.shapeMismatch(name, reason: "header says \(shape.map(String.init).joined(separator: "x")) (\(total) bytes), file has \(data.count) bytes")
        }
        return IDXArray(shape: shape, bytes: Array(data[headerBytes...]))
    }

    /// Reads an IDX file (gzipped or plain).
    public static func read(_ url: URL, dimensions: Int) throws -> IDXArray {
        try parse(FileBytes.read(url), dimensions: dimensions, name: url.path)
    }
}

/// MNIST (LeCun, Cortes, Burges): 60000 training and 10000 test images of 28x28 grey levels,
/// read from the four IDX files in a directory, pixels scaled by 1/255 into [0, 1].
public enum MNIST {
    public static let width = 28
    public static let height = 28

    /// The file for `stem` (e.g. "train-images", "idx3") in `directory`: both the hyphen and the
    /// dot spellings, gzipped or plain, are accepted; the first that exists wins.
    public static func locate(_ stem: String, idx: String, in directory: URL) throws -> URL {
        let names = ["\(stem)-\(idx)-ubyte.gz", "\(stem).\(idx)-ubyte.gz", "\(stem)-\(idx)-ubyte", "\(stem).\(idx)-ubyte"]
        for name in names {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw DatasetError.missingFile(directory.appendingPathComponent("\(stem)-\(idx)-ubyte[.gz]").path)
    }

    /// Images (cases x 784, in [0, 1]) and labels (0-9) of one split.
    public static func readSplit(images imagesURL: URL, labels labelsURL: URL) throws -> (images: Matrix<Float>, labels: [Int], width: Int, height: Int) {
        let images = try IDXArray.read(imagesURL, dimensions: 3)
        let labels = try IDXArray.read(labelsURL, dimensions: 1)
        guard images.shape[0] == labels.shape[0] else {
            throw DatasetError.shapeMismatch(labelsURL.path, reason: "\(labels.shape[0]) labels for \(images.shape[0]) images in \(imagesURL.lastPathComponent)")
        }
        if let bad = labels.bytes.firstIndex(where: { $0 > 9 }) {
            throw DatasetError.malformed(labelsURL.path, reason: "label \(labels.bytes[bad]) of case \(bad + 1) is not a digit")
        }
        let columns = images.shape[1] * images.shape[2]
        // Multiplying by the reciprocal would round differently from Martens' single(x)/255.
        let pixels = images.bytes.map { Float($0) / 255 }
        return (Matrix(rows: images.shape[0], columns: columns, elements: pixels), labels.bytes.map(Int.init),
                images.shape[2], images.shape[1])
    }

    /// The whole data set from `directory` (which holds `train-images-idx3-ubyte.gz` etc.).
    public static func load(from directory: URL) throws -> Dataset {
        let train = try readSplit(images: locate("train-images", idx: "idx3", in: directory),
                                  labels: locate("train-labels", idx: "idx1", in: directory))
        let test = try readSplit(images: locate("t10k-images", idx: "idx3", in: directory),
                                 labels: locate("t10k-labels", idx: "idx1", in: directory))
        guard train.width == test.width, train.height == test.height else {
            throw DatasetError.shapeMismatch(directory.path, reason: "training images are \(train.width)x\(train.height), test images \(test.width)x\(test.height)")
        }
        return Dataset(name: "mnist", train: train.images, test: test.images,
                       trainLabels: train.labels, testLabels: test.labels,
                       imageWidth: train.width, imageHeight: train.height)
    }
}
