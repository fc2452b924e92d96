import XCTest
@testable import NeuralNetworks

final class ActivationTests: XCTestCase {
    func testActivationNamesRoundTrip() {
        for a in Activation.allCases { XCTAssertEqual(Activation(rawValue: a.rawValue), a) }
    }
}
