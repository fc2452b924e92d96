import XCTest
import LinearAlgebra
@testable import Datasets

/// Standard PCA's reconstruction error against a hand-computed case, and on the real MNIST
/// against the figure Hinton & Salakhutdinov publish.
final class PCATests: XCTestCase {
    // An orthonormal basis of R^3.
    let u: [Float] = [1, 2, 2].map { $0 / 3 }
    let w: [Float] = [2, 1, -2].map { $0 / 3 }
    let e: [Float] = [2, -2, 1].map { $0 / 3 }
    let offset: [Float] = [0.5, -1, 2]

    func point(_ a: Float, _ b: Float, _ c: Float) -> [Float] {
        (0..<3).map { offset[$0] + a * u[$0] + b * w[$0] + c * e[$0] }
    }

    /// Training cases offset ± 3u and offset ± w: mean `offset`, covariance 4.5 uu' + 0.5 ww'.
    /// The first component is u, the second w. Per-case errors with k components:
    /// train 5, 0.5, 0 (k = 0, 1, 2); the test case offset + 2u + 2w + e: 9, 5, 1, and 0 with
    /// all three.
    func testErrorsOfAHandComputedCase() throws {
        let train = [point(3, 0, 0), point(-3, 0, 0), point(0, 1, 0), point(0, -1, 0)].flatMap { $0 }
        let test = point(2, 2, 1)
        let d = Dataset(name: "toy", train: Matrix(rows: 4, columns: 3, elements: train),
                        test: Matrix(rows: 1, columns: 3, elements: test))
        let errors = try XCTUnwrap(d.pcaErrors(components: [0, 1, 2, 3]))
        let expected: [Int: (train: Double, test: Double)] = [0: (5, 9), 1: (0.5, 5), 2: (0, 1), 3: (0, 0)]
        for (k, value) in expected {
            XCTAssertEqual(errors[k]!["train"]!, value.train, accuracy: 1e-5, "k = \(k)")
            XCTAssertEqual(errors[k]!["test"]!, value.test, accuracy: 1e-5, "k = \(k)")
        }
        XCTAssertEqual(errors[0]!["test"]!, d.summary().meanImageError["test"]!, accuracy: 1e-9, "no components: the mean image")
    }

    func testEigenSolverFailsCleanlyOnNonFiniteData() {
        let d = Dataset(name: "bad", train: Matrix(rows: 2, columns: 2, elements: [1, .nan, 0, 1]),
                        test: Matrix(rows: 1, columns: 2, elements: [0, 0]))
        XCTAssertNil(d.pcaErrors(components: [1]))
    }

    /// H&S's Fig. 2 caption: 30 components leave 13.87 per MNIST test image.
    func testRealMNISTMatchesThePublishedFigure() throws {
        let directory = IntegrationTests.dataDirectory.appendingPathComponent("mnist")
        guard FileManager.default.fileExists(atPath: directory.path) else { throw XCTSkip("\(directory.path) is not present") }
        let d = try MNIST.load(from: directory)
        let errors = try XCTUnwrap(d.pcaErrors(components: [30]))
        XCTAssertEqual(errors[30]!["test"]!, 13.87, accuracy: 0.005)
    }
}
