import Foundation

/// The JSON conventions of every file a run writes (`config.json`, `metrics.jsonl`,
/// `optimizer_state.json`).
///
/// Non-finite numbers: JSON has no literal for them and `JSONEncoder` refuses them by default,
/// yet an optimizer legitimately produces rho = -inf (a step that made things worse against a
/// predicted decrease of zero) or NaN. They are written as the strings `"inf"`, `"-inf"` and
/// `"nan"` and read back as the same values; finite numbers stay JSON numbers, written in the
/// shortest form that round-trips exactly, so a resumed run sees bit-identical Doubles.
public enum JSONCoding {
    /// The string written for +infinity.
    public static let positiveInfinity = "inf"
    /// The string written for -infinity.
    public static let negativeInfinity = "-inf"
    /// The string written for NaN.
    public static let notANumber = "nan"

    /// An encoder with the non-finite convention above; `pretty` adds indentation and sorts
    /// keys (for files people read: `config.json`, `optimizer_state.json`); compact output is
    /// one line (for JSON lines files), keys still sorted so files diff cleanly.
    public static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: positiveInfinity, negativeInfinity: negativeInfinity, nan: notANumber)
        return encoder
    }

    /// A decoder that accepts the non-finite strings written by `encoder(pretty:)`.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: positiveInfinity, negativeInfinity: negativeInfinity, nan: notANumber)
        return decoder
    }
}

extension KeyedEncodingContainer {
    /// Writes `value` as a JSON number when finite, else as `"inf"`, `"-inf"` or `"nan"`, so
    /// the owning type encodes even with a plain `JSONEncoder`.
    mutating func encodeAllowingNonFinite(_ value: Double, forKey key: Key) throws {
        if value.isFinite {
            try encode(value, forKey: key)
        } else if value.isNaN {
            try encode(JSONCoding.notANumber, forKey: key)
        } else {
            try encode(value > 0 ? JSONCoding.positiveInfinity : JSONCoding.negativeInfinity, forKey: key)
        }
    }

    /// Optional form of `encodeAllowingNonFinite(_:forKey:)`; nil writes no key.
    mutating func encodeAllowingNonFiniteIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try encodeAllowingNonFinite(value, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    /// Reads a number, or one of the strings `"inf"`, `"-inf"`, `"nan"` (also `"+inf"`,
    /// `"infinity"`, any case, for files written by other tools).
    func decodeAllowingNonFinite(forKey key: Key) throws -> Double {
        if let string = try? decode(String.self, forKey: key) {
            switch string.lowercased() {
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan": return .nan
            default:
                throw DecodingError.dataCorruptedError(forKey: key, in: self,
                    debugDescription: "\"\(string)\" is not a number (expected a number, \"inf\", \"-inf\" or \"nan\")")
            }
        }
        return try decode(Double.self, forKey: key)
    }

    /// Optional form of `decodeAllowingNonFinite(forKey:)`: a missing key or null is nil.
    func decodeAllowingNonFiniteIfPresent(forKey key: Key) throws -> Double? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeAllowingNonFinite(forKey: key)
    }
}
