import Foundation
import XCTest
import LinearAlgebra
@testable import Datasets

final class CacheTests: TemporaryDirectoryTestCase {
    var sample: Dataset {
        Dataset(name: "toy", train: Matrix(rows: 2, columns: 4, elements: [0, 1, 2, 3, 4, 5, 6, 7]),
                validation: Matrix(rows: 1, columns: 4, elements: [9, 9, 9, 9]),
                test: Matrix(rows: 1, columns: 4, elements: [-1, -2, -3, -4]), imageWidth: 2, imageHeight: 2)
    }
    let key = DatasetCache.Key(recipe: "toy-v1", seed: 5, sourceFingerprint: "abc")

    func testRoundTripAndMismatches() throws {
        try DatasetCache.store(sample, key: key, in: directory)
        let hit = try XCTUnwrap(DatasetCache.load(key: key, in: directory).dataset)
        XCTAssertEqual(hit.train, sample.train); XCTAssertEqual(hit.validation, sample.validation)
        XCTAssertEqual(hit.test, sample.test); XCTAssertEqual(hit.imageWidth, 2); XCTAssertEqual(hit.name, "toy")
        // Another seed, recipe or source is another entry (or a mismatch when names collide).
        XCTAssertNil(DatasetCache.load(key: .init(recipe: "toy-v1", seed: 6, sourceFingerprint: "abc"), in: directory).dataset)
        // The same file name, built from other source files.
        let otherSource = DatasetCache.Key(recipe: "toy-v1", seed: 5, sourceFingerprint: "xyz")
        XCTAssertEqual(DatasetCache.url(for: otherSource, in: directory), DatasetCache.url(for: key, in: directory))
        XCTAssertEqual(DatasetCache.load(key: otherSource, in: directory).reason, "cache entry was built by another recipe, seed or source")
    }

    func testCorruptEntriesAreRebuilt() throws {
        try DatasetCache.store(sample, key: key, in: directory)
        let url = DatasetCache.url(for: key, in: directory)
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[bytes.count - 3] ^= 0x40
        try Data(bytes).write(to: url)
        XCTAssertEqual(DatasetCache.load(key: key, in: directory).reason, "cache entry fails its checksum")
        try Data(bytes.prefix(bytes.count - 5)).write(to: url)
        XCTAssertNil(DatasetCache.load(key: key, in: directory).dataset)
        var builds = 0
        let rebuilt = try DatasetCache.cached(key: key, in: directory, progress: nil) { builds += 1; return sample }
        XCTAssertEqual(builds, 1); XCTAssertEqual(rebuilt.train, sample.train)
        _ = try DatasetCache.cached(key: key, in: directory, progress: nil) { builds += 1; return sample }
        XCTAssertEqual(builds, 1, "a good entry is reused")
    }

    func testFailedBuildLeavesNoEntry() throws {
        struct Boom: Error {}
        XCTAssertThrowsError(try DatasetCache.cached(key: key, in: directory, progress: nil) { throw Boom() })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testLocationsResolution() {
        let env = ["HF_DATA_DIR": "/env/data", "HF_CACHE_DIR": "/env/cache", "HOME": "/home/u"]
        let flags = DataLocations.resolve(dataDirectory: "d", cacheDirectory: "/c", environment: env, currentDirectory: "/work/x")
        XCTAssertEqual(flags.dataDirectory.path, "/work/x/d"); XCTAssertEqual(flags.cacheDirectory.path, "/c")
        let fromEnv = DataLocations.resolve(environment: env, currentDirectory: "/work/x")
        XCTAssertEqual(fromEnv.dataDirectory.path, "/env/data"); XCTAssertEqual(fromEnv.cacheDirectory.path, "/env/cache")
        let xdg = DataLocations.resolve(environment: ["XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"], currentDirectory: "/nonexistent/x")
        XCTAssertEqual(xdg.cacheDirectory.path, "/xdg/hessianfree"); XCTAssertEqual(xdg.dataDirectory.path, "/nonexistent/x/data")
        let home = DataLocations.resolve(environment: ["HOME": "/home/u"], currentDirectory: "/w")
        XCTAssertEqual(home.cacheDirectory.path, "/home/u/.cache/hessianfree")
    }
}

final class MinibatchScheduleTests: XCTestCase {
    func testFixedPermutationCycledRoundRobin() {
        let s = MinibatchSchedule(cases: 10, batchSize: 4, seed: 1)
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.permutation.sorted(), Array(0..<10))
        XCTAssertEqual(Array(s.batch(0)) + Array(s.batch(1)) + Array(s.batch(2)), s.permutation)
        XCTAssertEqual(s.batch(2).count, 2, "the last batch holds the remainder")
        XCTAssertEqual(s.batch(forIteration: 3), s.batch(0))
        XCTAssertEqual(s.batch(forIteration: 7), s.batch(1))
        XCTAssertEqual(s, MinibatchSchedule(cases: 10, batchSize: 4, seed: 1))
        XCTAssertNotEqual(s.permutation, MinibatchSchedule(cases: 10, batchSize: 4, seed: 2).permutation)
    }

    func testTable1SizesDivideEvenly() {
        for d in BenchmarkDataset.allCases {
            let t = d.table1
            let s = MinibatchSchedule(cases: t.trainingCases, batchSize: t.minibatchSize, seed: 0)
            XCTAssertEqual(s.count * t.minibatchSize, t.trainingCases, "\(d)")
        }
    }

    func testGather() {
        let m = Matrix<Float>(rows: 3, columns: 2, elements: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(MinibatchSchedule.gather(m, rows: [2, 0][...]).storage, [4, 5, 0, 1])
    }
}
