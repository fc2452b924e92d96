// swift-tools-version:6.0
import PackageDescription

/// HessianFree: Martens (2010) "Deep learning via Hessian-free optimization", in Swift.
///
/// Targets mirror the architecture (see README "Layout"):
/// - CBLAS / CZlib / CMPI: system libraries (Debian's libopenblas-dev, zlib1g-dev, libopenmpi-dev).
/// - CKernels: AVX-512 and AVX2 + FMA versions of the Float elementwise kernels, chosen at run time.
/// - LinearAlgebra: flat parameter vectors, matrix views, BLAS wrappers, elementwise kernels.
/// - Optimization: objective protocols, CG, Hessian-free; knows nothing about neural nets.
/// - NeuralNetworks: feed-forward nets, matched losses, backprop, R-op curvature products.
/// - Datasets: IDX (MNIST), CURVES, FACES, NPY/CSV readers; mini-batches.
/// - Reporting: run records, JSON lines, SVG plots, PNG images, tables, checkpoints.
/// - Experiments: the paper's presets, training runs with run folders, resume, reports.
/// - MPIShards: the MPI backend of Optimization's `ShardReducer` (data-parallel training under
///   mpirun); only `hf` links it, so the libraries above build without MPI.
/// - hf: the command-line tool (thin).
// Release builds use SwiftPM's defaults (-O, whole-module): preconditions stay on, so shape
// checks at every BLAS boundary hold in the shipped tool; hot loops use unsafe buffer pointers.
let optimize: [SwiftSetting] = []

let package = Package(
    name: "HessianFree",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hf", targets: ["hf"]),
        .library(name: "HessianFree", targets: ["LinearAlgebra", "Optimization", "NeuralNetworks", "Datasets", "Reporting", "Experiments"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CKernels"),
        .target(name: "LinearAlgebra", dependencies: ["CBLAS", "CKernels"], swiftSettings: optimize),
        .target(name: "Optimization", dependencies: ["LinearAlgebra"], swiftSettings: optimize),
        .target(name: "NeuralNetworks", dependencies: ["LinearAlgebra", "Optimization"], swiftSettings: optimize),
        .target(name: "Datasets", dependencies: ["LinearAlgebra", "CZlib"], swiftSettings: optimize),
        .target(name: "Reporting", dependencies: ["LinearAlgebra", "CZlib"], swiftSettings: optimize),
        .target(name: "Experiments", dependencies: ["LinearAlgebra", "Optimization", "NeuralNetworks", "Datasets", "Reporting"],
                swiftSettings: optimize),
        .target(name: "MPIShards", dependencies: ["CMPI", "Optimization"], swiftSettings: optimize),
        .executableTarget(name: "hf", dependencies: [
            "LinearAlgebra", "Optimization", "NeuralNetworks", "Datasets", "Reporting", "Experiments", "MPIShards",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: optimize),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "CKernels"]),
        .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "LinearAlgebra"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "Optimization", "LinearAlgebra"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "LinearAlgebra"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "LinearAlgebra"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "NeuralNetworks", "Optimization", "Datasets", "Reporting", "LinearAlgebra"]),
        .testTarget(name: "CLITests", dependencies: ["hf", "Datasets", "Reporting", "LinearAlgebra"]),
    ],
    swiftLanguageModes: [.v6]
)
