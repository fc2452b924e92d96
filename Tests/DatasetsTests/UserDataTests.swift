import Foundation
import XCTest
import LinearAlgebra
@testable import Datasets

final class UserDataTests: TemporaryDirectoryTestCase {
    func testNPYRoundTrip() throws {
        let m = Matrix<Float>(rows: 3, columns: 2, elements: [1, -2, 3.5, 0, 1e-3, 7])
        let url = directory.appendingPathComponent("m.npy")
        try NPY.write(m, to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        // Header length is padded so the data starts on a 64-byte boundary.
        XCTAssertEqual((bytes.count - 6 * 4) % 64, 0)
        XCTAssertEqual(try NPY.read(url), m)
    }

    func testNPYElementTypes() throws {
        let f8 = Fixture.npy(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                             payload: Fixture.littleEndianBytes([0.5, 1.5, -2.0, 4.0] as [Double]))
        XCTAssertEqual(try NPY.parse(f8, name: "f8").storage, [0.5, 1.5, -2, 4])
        let u1 = Fixture.npy(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3), }", payload: [0, 128, 255])
        XCTAssertEqual(try NPY.parse(u1, name: "u1").storage, [0, 128, 255])
        let bigEndian = Fixture.npy(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }",
                                    payload: [0x3F, 0x80, 0x00, 0x00])
        XCTAssertEqual(try NPY.parse(bigEndian, name: "be").storage, [1])
    }

    func testNPYRejections() throws {
        let fortran = Fixture.npy(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", payload: [0, 0, 0, 0])
        assertThrowsMessage(containing: ["f.npy", "Fortran"]) { try NPY.parse(fortran, name: "f.npy") }
        let threeD = Fixture.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }", payload: [0, 0, 0, 0])
        assertThrowsMessage(containing: ["t.npy", "2-D", "(1, 1, 1)"]) { try NPY.parse(threeD, name: "t.npy") }
        let int64 = Fixture.npy(header: "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", payload: [UInt8](repeating: 0, count: 8))
        assertThrowsMessage(containing: ["i.npy", "'<i8'"]) { try NPY.parse(int64, name: "i.npy") }
        let short = Fixture.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", payload: [0, 0, 0, 0])
        assertThrowsMessage(containing: ["s.npy", "truncated"]) { try NPY.parse(short, name: "s.npy") }
        let long = Fixture.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", payload: [UInt8](repeating: 0, count: 8))
        assertThrowsMessage(containing: ["l.npy", "shape mismatch"]) { try NPY.parse(long, name: "l.npy") }
        assertThrows(.malformed("e.npy", reason: "empty file")) { try NPY.parse([], name: "e.npy") }
        assertThrowsMessage(containing: ["m.npy", "wrong magic"]) { try NPY.parse(Array("PK\u{3}\u{4}zipfile!".utf8), name: "m.npy") }
    }

    func testNPYNaNIsLocated() throws {
        let nan = Fixture.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                              payload: Fixture.littleEndianBytes([0, 1, 2, 3, Float.nan, 5] as [Float]))
        assertThrows(.nonFinite("n.npy", row: 2, column: 2)) { try NPY.parse(nan, name: "n.npy") }
    }

    func testCSVWithAndWithoutHeader() throws {
        let plain = try CSV.parse("1,2,3\n4, 5 ,6\r\n\n", name: "a.csv")
        XCTAssertEqual(plain, Matrix(rows: 2, columns: 3, elements: [1, 2, 3, 4, 5, 6]))
        let headed = try CSV.parse("x,y\n1,2\n", name: "b.csv")
        XCTAssertEqual(headed, Matrix(rows: 1, columns: 2, elements: [1, 2]))
    }

    func testCSVErrorsNameRowAndColumn() throws {
        assertThrows(.raggedRow("r.csv", row: 3, expectedColumns: 2, foundColumns: 3)) { try CSV.parse("a,b\n1,2\n3,4,5\n", name: "r.csv") }
        assertThrows(.notNumeric("n.csv", row: 2, column: 2, text: "abc")) { try CSV.parse("1,2\n3,abc\n", name: "n.csv") }
        assertThrows(.nonFinite("f.csv", row: 1, column: 1)) { try CSV.parse("nan,2\n", name: "f.csv") }
        assertThrows(.notNumeric("e.csv", row: 1, column: 2, text: "")) { try CSV.parse("1,\n", name: "e.csv") }
        assertThrows(.malformed("h.csv", reason: "no data rows")) { try CSV.parse("x,y\n", name: "h.csv") }
        let empty = try write([], "empty.csv")
        assertThrows(.malformed(empty.path, reason: "empty file")) { try CSV.read(empty) }
    }

    func testUserDataSetWithTargetsAndScaling() throws {
        let inputs = try write(Array("0,255\n51,102\n".utf8), "in.csv")
        let targets = try write(Array("1\n0\n".utf8), "out.csv")
        try NPY.write(Matrix(rows: 1, columns: 2, elements: [255, 0]), to: directory.appendingPathComponent("test.npy"))
        let testTargets = try write(Array("1\n".utf8), "test-out.csv")
        let d = try UserData.load(trainInputs: inputs, trainTargets: targets, testInputs: directory.appendingPathComponent("test.npy"),
                                  testTargets: testTargets, scaling: .divide(by: 255))
        XCTAssertEqual(d.train.storage, [0, 1, 0.2, 0.4])
        XCTAssertEqual(d.trainTargets?.storage, [1 / 255, 0])
        XCTAssertEqual(d.test.storage, [1, 0])
        XCTAssertFalse(d.isAutoencoder)
        XCTAssertEqual(d.name, "in")
        let wrong = try write(Array("1\n0\n1\n".utf8), "wrong.csv")
        assertThrowsMessage(containing: [wrong.path, "3 rows of targets for 2 training cases"]) {
            try UserData.load(trainInputs: inputs, trainTargets: wrong)
        }
        let narrow = try write(Array("1\n".utf8), "narrow.csv")
        assertThrowsMessage(containing: [narrow.path, "1 columns, training inputs have 2"]) {
            try UserData.load(trainInputs: inputs, testInputs: narrow)
        }
        XCTAssertEqual(Scaling(argument: "255"), .divide(by: 255))
        XCTAssertEqual(Scaling(argument: "none"), Scaling.none)
        XCTAssertNil(Scaling(argument: "-1"))
    }

    func testLoadByName() throws {
        let locations = DataLocations(dataDirectory: directory, cacheDirectory: directory.appendingPathComponent("cache"))
        assertThrows(.unknownDataset("imagenet")) { try Dataset.load(named: "imagenet", locations: locations) }
        let url = directory.appendingPathComponent("square.npy")
        try NPY.write(Matrix(rows: 2, columns: 4, elements: [0, 1, 2, 3, 4, 5, 6, 7]), to: url)
        let d = try Dataset.load(named: url.path, locations: locations)
        XCTAssertEqual(d.imageWidth, 2); XCTAssertEqual(d.train.rows, 2); XCTAssertEqual(d.test.rows, 0)
    }
}
