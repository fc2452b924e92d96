import Foundation

/// What one optimizer iteration did: one line of a run's `metrics.jsonl`.
///
/// JSON keys are snake_case (`train_loss`, `cg_iterations`, ...), fixed by `CodingKeys` so
/// any `JSONEncoder` writes the same file. Non-finite Doubles (rho = -inf after a step that
/// increased the objective, NaN) are written as the strings `"inf"`, `"-inf"`, `"nan"` even
/// by a plain `JSONEncoder` (see `JSONCoding`); optional fields that are nil are left out.
public struct MetricsRecord: Codable, Equatable, Sendable {
    /// 1-based optimizer iteration (the paper's outer HF iteration).
    public var iteration: Int
    /// Wall-clock seconds since the run started (across resumes), at the end of this iteration.
    public var seconds: Double
    /// Objective value on the training set (or on this iteration's gradient mini-batch when
    /// the full set was not evaluated), including the l2 weight cost.
    public var trainLoss: Double
    /// Error on the training set as the paper reports it (Table 2: average sum of squared
    /// reconstruction errors).
    public var trainError: Double
    /// Error on the test set; nil when the test set was not evaluated this iteration.
    public var testError: Double?
    /// The damping parameter lambda in force after this iteration's Levenberg-Marquardt update
    /// (section 4.1). NaN for optimizers without damping.
    public var lambda: Double
    /// The reduction ratio rho = (f(theta + p) - f(theta)) / (q(p) - q(0)) (section 4.1); may
    /// be -inf or NaN. NaN for optimizers without a quadratic model.
    public var rho: Double
    /// CG iterations run this outer iteration.
    public var cgIterations: Int
    /// The CG iterate chosen by backtracking (section 4.6), 1-based; 0 when none was taken.
    public var cgChosen: Int
    /// Gradient evaluations so far in the run (cumulative, mini-batch or full).
    public var gradientEvaluations: Int
    /// Curvature-matrix-vector products so far in the run (cumulative).
    public var curvatureProducts: Int
    /// This iteration's floating-point operations divided by its own wall time, in 1e9 per
    /// second (see `MetricsRecord.gflops(flops:seconds:)`).
    public var gflops: Double
    /// Name of the optimizer that produced the record ("hf", "sgd", "ncg", ...), when logged.
    public var optimizer: String?
    /// Step size chosen by the line search along the CG direction, when one ran.
    public var lineSearchRate: Double?
    /// Why CG stopped (the raw value of the optimizer's termination enum), when CG ran.
    public var cgStopReason: String?
    /// Euclidean norm of the gradient, when computed.
    public var gradientNorm: Double?
    /// Error on a held-out validation set used for early stopping, when evaluated.
    public var validationError: Double?
    /// Where this iteration's time went (Hessian-free): the full-data gradient passes, the CG
    /// run (with the batch linearization), CG backtracking plus the line search, and the
    /// train/test error passes of the log.
    public var gradientSeconds: Double?
    public var cgSeconds: Double?
    public var lineSearchSeconds: Double?
    public var evaluationSeconds: Double?
    /// CPU seconds the process has used since the run started (across resumes, pre-training
    /// included), at the end of this iteration: a time axis that other processes sharing the
    /// machine do not stretch, as they stretch `seconds`.
    public var cpuSeconds: Double?
    /// True when CG returned a non-finite direction this iteration (Hessian-free): it was not
    /// applied, not kept as the warm start, and lambda was raised. Absent otherwise.
    public var nonFiniteDirection: Bool?
    /// Processes that computed this iteration (data-parallel MPI ranks; 1 in one process).
    public var ranks: Int?
    /// Hessian-free: rho's denominator, the model's change q(p) - q(0) at the backtracked step.
    public var modelChange: Double?
    /// Hessian-free: rho of the same step on the whole training set, (f(theta + p) -
    /// f(theta)) / `modelChange` before the line search (-inf when the objective rose). With a
    /// curvature mini-batch, `rho` is the batch's verdict (what moves lambda); this is the
    /// whole set's. Equal to `rho` when rho is measured on the full data.
    public var rhoFullData: Double?

    public init(iteration: Int, seconds: Double, trainLoss: Double, trainError: Double,
                testError: Double? = nil, lambda: Double, rho: Double,
                cgIterations: Int, cgChosen: Int, gradientEvaluations: Int, curvatureProducts: Int,
                gflops: Double, optimizer: String? = nil, lineSearchRate: Double? = nil,
                cgStopReason: String? = nil, gradientNorm: Double? = nil, validationError: Double? = nil) {
        self.iteration = iteration
        self.seconds = seconds
        self.trainLoss = trainLoss
        self.trainError = trainError
        self.testError = testError
        self.lambda = lambda
        self.rho = rho
        self.cgIterations = cgIterations
        self.cgChosen = cgChosen
        self.gradientEvaluations = gradientEvaluations
        self.curvatureProducts = curvatureProducts
        self.gflops = gflops
        self.optimizer = optimizer
        self.lineSearchRate = lineSearchRate
        self.cgStopReason = cgStopReason
        self.gradientNorm = gradientNorm
        self.validationError = validationError
    }

    /// Throughput in 1e9 floating-point operations per second: `flops / seconds / 1e9`, or 0
    /// when `seconds` is not positive (an iteration too short for the clock to see).
    public static func gflops(flops: Double, seconds: Double) -> Double {
        seconds > 0 && seconds.isFinite ? flops / seconds / 1e9 : 0
    }

    public enum CodingKeys: String, CodingKey {
        case iteration, seconds
        case trainLoss = "train_loss"
        case trainError = "train_error"
        case testError = "test_error"
        case lambda, rho
        case cgIterations = "cg_iterations"
        case cgChosen = "cg_chosen"
        case gradientEvaluations = "gradient_evaluations"
        case curvatureProducts = "curvature_products"
        case gflops, optimizer
        case lineSearchRate = "line_search_rate"
        case cgStopReason = "cg_stop_reason"
        case gradientNorm = "gradient_norm"
        case validationError = "validation_error"
        case gradientSeconds = "gradient_seconds"
        case cgSeconds = "cg_seconds"
        case lineSearchSeconds = "line_search_seconds"
        case evaluationSeconds = "evaluation_seconds"
        case cpuSeconds = "cpu_seconds"
        case nonFiniteDirection = "non_finite_direction"
        case ranks
        case modelChange = "model_change"
        case rhoFullData = "rho_full_data"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iteration = try c.decode(Int.self, forKey: .iteration)
        seconds = try c.decodeAllowingNonFinite(forKey: .seconds)
        trainLoss = try c.decodeAllowingNonFinite(forKey: .trainLoss)
        trainError = try c.decodeAllowingNonFinite(forKey: .trainError)
        testError = try c.decodeAllowingNonFiniteIfPresent(forKey: .testError)
        lambda = try c.decodeAllowingNonFinite(forKey: .lambda)
        rho = try c.decodeAllowingNonFinite(forKey: .rho)
        cgIterations = try c.decode(Int.self, forKey: .cgIterations)
        cgChosen = try c.decode(Int.self, forKey: .cgChosen)
        gradientEvaluations = try c.decode(Int.self, forKey: .gradientEvaluations)
        curvatureProducts = try c.decode(Int.self, forKey: .curvatureProducts)
        gflops = try c.decodeAllowingNonFinite(forKey: .gflops)
        optimizer = try c.decodeIfPresent(String.self, forKey: .optimizer)
        lineSearchRate = try c.decodeAllowingNonFiniteIfPresent(forKey: .lineSearchRate)
        cgStopReason = try c.decodeIfPresent(String.self, forKey: .cgStopReason)
        gradientNorm = try c.decodeAllowingNonFiniteIfPresent(forKey: .gradientNorm)
        validationError = try c.decodeAllowingNonFiniteIfPresent(forKey: .validationError)
        gradientSeconds = try c.decodeAllowingNonFiniteIfPresent(forKey: .gradientSeconds)
        cgSeconds = try c.decodeAllowingNonFiniteIfPresent(forKey: .cgSeconds)
        lineSearchSeconds = try c.decodeAllowingNonFiniteIfPresent(forKey: .lineSearchSeconds)
        evaluationSeconds = try c.decodeAllowingNonFiniteIfPresent(forKey: .evaluationSeconds)
        cpuSeconds = try c.decodeAllowingNonFiniteIfPresent(forKey: .cpuSeconds)
        nonFiniteDirection = try c.decodeIfPresent(Bool.self, forKey: .nonFiniteDirection)
        ranks = try c.decodeIfPresent(Int.self, forKey: .ranks)
        modelChange = try c.decodeAllowingNonFiniteIfPresent(forKey: .modelChange)
        rhoFullData = try c.decodeAllowingNonFiniteIfPresent(forKey: .rhoFullData)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(iteration, forKey: .iteration)
        try c.encodeAllowingNonFinite(seconds, forKey: .seconds)
        try c.encodeAllowingNonFinite(trainLoss, forKey: .trainLoss)
        try c.encodeAllowingNonFinite(trainError, forKey: .trainError)
        try c.encodeAllowingNonFiniteIfPresent(testError, forKey: .testError)
        try c.encodeAllowingNonFinite(lambda, forKey: .lambda)
        try c.encodeAllowingNonFinite(rho, forKey: .rho)
        try c.encode(cgIterations, forKey: .cgIterations)
        try c.encode(cgChosen, forKey: .cgChosen)
        try c.encode(gradientEvaluations, forKey: .gradientEvaluations)
        try c.encode(curvatureProducts, forKey: .curvatureProducts)
        try c.encodeAllowingNonFinite(gflops, forKey: .gflops)
        try c.encodeIfPresent(optimizer, forKey: .optimizer)
        try c.encodeAllowingNonFiniteIfPresent(lineSearchRate, forKey: .lineSearchRate)
        try c.encodeIfPresent(cgStopReason, forKey: .cgStopReason)
        try c.encodeAllowingNonFiniteIfPresent(gradientNorm, forKey: .gradientNorm)
        try c.encodeAllowingNonFiniteIfPresent(validationError, forKey: .validationError)
        try c.encodeAllowingNonFiniteIfPresent(gradientSeconds, forKey: .gradientSeconds)
        try c.encodeAllowingNonFiniteIfPresent(cgSeconds, forKey: .cgSeconds)
        try c.encodeAllowingNonFiniteIfPresent(lineSearchSeconds, forKey: .lineSearchSeconds)
        try c.encodeAllowingNonFiniteIfPresent(evaluationSeconds, forKey: .evaluationSeconds)
        try c.encodeAllowingNonFiniteIfPresent(cpuSeconds, forKey: .cpuSeconds)
        try c.encodeIfPresent(nonFiniteDirection, forKey: .nonFiniteDirection)
        try c.encodeIfPresent(ranks, forKey: .ranks)
        try c.encodeAllowingNonFiniteIfPresent(modelChange, forKey: .modelChange)
        try c.encodeAllowingNonFiniteIfPresent(rhoFullData, forKey: .rhoFullData)
    }

    /// Equality that treats NaN as equal to NaN (field by field), so round-trip tests and
    /// resume checks can compare records that carry NaN.
    public static func == (a: MetricsRecord, b: MetricsRecord) -> Bool {
        func same(_ x: Double, _ y: Double) -> Bool { x == y || (x.isNaN && y.isNaN) }
        func same(_ x: Double?, _ y: Double?) -> Bool {
            switch (x, y) {
            case (nil, nil): return true
            case let (x?, y?): return same(x, y)
            default: return false
            }
        }
        return a.iteration == b.iteration && same(a.seconds, b.seconds) && same(a.trainLoss, b.trainLoss)
            && same(a.trainError, b.trainError) && same(a.testError, b.testError)
            && same(a.lambda, b.lambda) && same(a.rho, b.rho)
            && a.cgIterations == b.cgIterations && a.cgChosen == b.cgChosen
            && a.gradientEvaluations == b.gradientEvaluations && a.curvatureProducts == b.curvatureProducts
            && same(a.gflops, b.gflops) && a.optimizer == b.optimizer
            && same(a.lineSearchRate, b.lineSearchRate) && a.cgStopReason == b.cgStopReason
            && same(a.gradientSeconds, b.gradientSeconds) && same(a.cgSeconds, b.cgSeconds)
            && same(a.lineSearchSeconds, b.lineSearchSeconds) && same(a.evaluationSeconds, b.evaluationSeconds)
            && same(a.gradientNorm, b.gradientNorm) && same(a.validationError, b.validationError)
            && same(a.cpuSeconds, b.cpuSeconds) && a.nonFiniteDirection == b.nonFiniteDirection
            && a.ranks == b.ranks && same(a.modelChange, b.modelChange) && same(a.rhoFullData, b.rhoFullData)
    }
}
