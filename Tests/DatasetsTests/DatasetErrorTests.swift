import XCTest
@testable import Datasets

final class DatasetErrorTests: XCTestCase {
    func testMessagesNameTheFileAndTheProblem() {
        XCTAssertEqual(DatasetError.badMagic("x.idx", found: 0x803, expected: 0x801).description,
                       "x.idx: wrong magic number 0x803 (expected 0x801)")
        XCTAssertTrue(DatasetError.truncated("y", expectedBytes: 10, actualBytes: 3).description.contains("truncated"))
    }
}
