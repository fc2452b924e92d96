import Foundation
import XCTest
@testable import Datasets

final class PGMTests: TemporaryDirectoryTestCase {
    func testHeadersWithAnyWhiteSpaceAndComments() throws {
        let pixels: [UInt8] = [0, 255, 51, 102, 153, 204]
        for header in ["P5 3 2 255\n", "P5\n3 2\n255\n", "P5\n# a comment\n3\t2 # another\n255\r"] {
            let image = try PGM.parse(Fixture.pgm(header: header, pixels: pixels), name: "x.pgm")
            XCTAssertEqual(image.width, 3); XCTAssertEqual(image.height, 2)
            XCTAssertEqual(image.pixels, [0, 1, 0.2, 0.4, 0.6, 0.8])
        }
    }

    func testSixteenBitPixels() throws {
        let image = try PGM.parse(Fixture.pgm(header: "P5 2 1 1000\n", pixels: [0x01, 0xF4, 0x03, 0xE8]), name: "x.pgm")
        XCTAssertEqual(image.pixels, [0.5, 1])
    }

    func testWrongMagic() throws {
        let url = try write(Fixture.pgm(header: "P2 3 2 255\n", pixels: [0, 0, 0, 0, 0, 0]), "a.pgm")
        assertThrows(.badMagic(url.path, found: 0x5032, expected: 0x5035)) { try PGM.read(url) }
    }

    func testTruncatedPixels() throws {
        let url = try write(Fixture.pgm(header: "P5 3 2 255\n", pixels: [1, 2, 3]), "a.pgm")
        assertThrows(.truncated(url.path, expectedBytes: 11 + 6, actualBytes: 11 + 3)) { try PGM.read(url) }
    }

    func testUnreadableHeaders() throws {
        for (header, problem) in [("P5 3", "before the height"), ("P5 x 2 255\n", "width is not a number"),
                                  ("P5 3 2 0\n", "out of range"), ("P5 0 2 255\n", "empty"), ("P5 3 2 255", "not followed by white space")] {
            let url = try write(Array(header.utf8), "bad.pgm")
            assertThrowsMessage(containing: [url.path, problem]) { try PGM.read(url) }
        }
    }

    func testEmptyAndMissing() throws {
        let url = try write([], "empty.pgm")
        assertThrows(.malformed(url.path, reason: "empty file")) { try PGM.read(url) }
        let missing = directory.appendingPathComponent("none.pgm")
        assertThrows(.missingFile(missing.path)) { try PGM.read(missing) }
    }

    /// Bilinear sampling reproduces a linear ramp exactly inside the image and clamps outside.
    func testBilinearSampling() {
        let tolerance = 1e-6  // exact arithmetic on small binary fractions, up to Float storage
        let image = GreyImage(width: 4, height: 2, pixels: [0, 0.25, 0.5, 0.75, 0, 0.25, 0.5, 0.75])
        XCTAssertEqual(image.sample(x: 0.5, y: 0.5), 0, accuracy: tolerance)
        XCTAssertEqual(image.sample(x: 2.0, y: 1.0), 0.375, accuracy: tolerance)
        XCTAssertEqual(image.sample(x: 9, y: -3), 0.75, accuracy: tolerance)
    }
}
