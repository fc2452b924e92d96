import ArgumentParser
import NeuralNetworks
import Optimization
import Experiments

// The library's enums parse from their raw values on the command line.
extension Activation: ExpressibleByArgument {}
extension CurvatureKind: ExpressibleByArgument {}
extension ConjugateGradientStoppingRule: ExpressibleByArgument {}
extension EvaluationData: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
