/// A layer's elementwise nonlinearity (paper section 7 uses logistic hidden units, a linear
/// code layer and logistic or linear outputs).
public enum Activation: String, Codable, Sendable, CaseIterable {
    case logistic
    case tanh
    case linear
    case relu
    /// Only for an output layer, matched with multinomial cross-entropy.
    case softmax
}
