import LinearAlgebra
import Optimization

/// A baseline optimizer's state whose vectors a checkpoint keeps as tensors in
/// `parameters.safetensors` rather than as numbers in `optimizer_state.json`. As JSON text a
/// vector takes about 20 bytes per element (a CURVES NCG checkpoint was 56 MB, an MNIST L-BFGS
/// one would be 0.7 GB) and is slow to write; as a tensor it takes 4 bytes and is read back
/// bit for bit. The parameters are stored once, as the checkpoint's own tensors.
///
/// In the JSON part the state keeps only the shape of its vectors: each is emptied (and an
/// optional one stays nil when it was nil), so reading it back knows which tensors to expect.
/// A checkpoint written before vectors moved (its JSON holds them in full) reads as before.
protocol CheckpointVectors {
    /// The vectors besides the parameters, each under its tensor name.
    var checkpointVectors: [(name: String, vector: Vector<Float>)] { get }
    /// The state with every vector emptied, for the JSON part.
    var withoutVectors: Self { get }
    /// Puts the parameters and every emptied vector back; `tensor(name)` gives a stored
    /// tensor. Throws when one is missing or has another length than the parameters.
    mutating func restoreVectors(parameters: Vector<Float>, tensor: (String) -> Vector<Float>?) throws
}

private let empty = Vector<Float>(zeros: 0)

/// `vector` as the checkpoint had it: itself when its JSON held it in full, else the tensor.
private func restored(_ vector: Vector<Float>, named name: String, count: Int,
                      tensor: (String) -> Vector<Float>?) throws -> Vector<Float> {
    if vector.count == count { return vector }  // written before vectors moved to tensors
    guard vector.count == 0, let t = tensor(name) else {
        throw ExperimentError.unreadableRun("checkpoint lacks the tensor \(name)")
    }
    guard t.count == count else {
        throw ExperimentError.unreadableRun("checkpoint tensor \(name) has \(t.count) values, the network \(count) parameters")
    }
    return t
}

private func restored(_ vector: Vector<Float>?, named name: String, count: Int,
                      tensor: (String) -> Vector<Float>?) throws -> Vector<Float>? {
    try vector.map { try restored($0, named: name, count: count, tensor: tensor) }
}

extension StochasticGradientDescent<Float>.State: CheckpointVectors {
    var checkpointVectors: [(name: String, vector: Vector<Float>)] { [("optimizer.sgd.velocity", velocity)] }
    var withoutVectors: Self {
        var s = self
        s.parameters = empty; s.velocity = empty
        return s
    }
    mutating func restoreVectors(parameters p: Vector<Float>, tensor: (String) -> Vector<Float>?) throws {
        parameters = p
        velocity = try restored(velocity, named: "optimizer.sgd.velocity", count: p.count, tensor: tensor)
    }
}

extension Adam<Float>.State: CheckpointVectors {
    var checkpointVectors: [(name: String, vector: Vector<Float>)] {
        [("optimizer.adam.first_moment", firstMoment), ("optimizer.adam.second_moment", secondMoment)]
    }
    var withoutVectors: Self {
        var s = self
        s.parameters = empty; s.firstMoment = empty; s.secondMoment = empty
        return s
    }
    mutating func restoreVectors(parameters p: Vector<Float>, tensor: (String) -> Vector<Float>?) throws {
        parameters = p
        firstMoment = try restored(firstMoment, named: "optimizer.adam.first_moment", count: p.count, tensor: tensor)
        secondMoment = try restored(secondMoment, named: "optimizer.adam.second_moment", count: p.count, tensor: tensor)
    }
}

extension NonlinearConjugateGradient<Float>.State: CheckpointVectors {
    var checkpointVectors: [(name: String, vector: Vector<Float>)] {
        [gradient.map { ("optimizer.ncg.gradient", $0) }, direction.map { ("optimizer.ncg.direction", $0) }].compactMap { $0 }
    }
    var withoutVectors: Self {
        var s = self
        s.parameters = empty
        s.gradient = gradient.map { _ in empty }
        s.direction = direction.map { _ in empty }
        return s
    }
    mutating func restoreVectors(parameters p: Vector<Float>, tensor: (String) -> Vector<Float>?) throws {
        parameters = p
        gradient = try restored(gradient, named: "optimizer.ncg.gradient", count: p.count, tensor: tensor)
        direction = try restored(direction, named: "optimizer.ncg.direction", count: p.count, tensor: tensor)
    }
}

extension LBFGS<Float>.State: CheckpointVectors {
    var checkpointVectors: [(name: String, vector: Vector<Float>)] {
        var out: [(name: String, vector: Vector<Float>)] = gradient.map { [("optimizer.lbfgs.gradient", $0)] } ?? []
        for (i, s) in steps.enumerated() { out.append(("optimizer.lbfgs.step.\(i)", s)) }
        for (i, y) in gradientChanges.enumerated() { out.append(("optimizer.lbfgs.gradient_change.\(i)", y)) }
        return out
    }
    var withoutVectors: Self {
        var s = self
        s.parameters = empty
        s.gradient = gradient.map { _ in empty }
        s.steps = steps.map { _ in empty }
        s.gradientChanges = gradientChanges.map { _ in empty }
        return s
    }
    mutating func restoreVectors(parameters p: Vector<Float>, tensor: (String) -> Vector<Float>?) throws {
        parameters = p
        gradient = try restored(gradient, named: "optimizer.lbfgs.gradient", count: p.count, tensor: tensor)
        steps = try steps.enumerated().map { try restored($0.element, named: "optimizer.lbfgs.step.\($0.offset)", count: p.count, tensor: tensor) }
        gradientChanges = try gradientChanges.enumerated().map {
            try restored($0.element, named: "optimizer.lbfgs.gradient_change.\($0.offset)", count: p.count, tensor: tensor)
        }
    }
}
