import ArgumentParser
import NeuralNetworks
import Optimization

// The library's enums parse from their raw values on the command line.
extension Activation: ExpressibleByArgument {}
extension CurvatureKind: ExpressibleByArgument {}
extension ConjugateGradientStoppingRule: ExpressibleByArgument {}
