import Foundation

/// How an axis maps values to positions.
public enum AxisScale: Sendable, Equatable {
    /// Equal distances for equal differences.
    case linear
    /// Equal distances for equal ratios (base 10); only positive values can be shown.
    case logarithmic
}

/// An axis range rounded out to tick marks, with the ticks and their labels.
public struct AxisTicks: Sendable, Equatable {
    /// The range the axis spans (from the first tick to the last).
    public var domain: ClosedRange<Double>
    /// Tick positions, ascending, inside `domain` (the ends included).
    public var values: [Double]
    /// One label per tick.
    public var labels: [String]

    /// Ticks at 1, 2 or 5 times a power of ten, about `targetCount` of them, covering
    /// `lower...upper` (Heckbert's "nice numbers"). A zero-width range is widened by 10% of
    /// its magnitude (or by 1 around zero) so a single value sits in the middle.
    public static func linear(lower: Double, upper: Double, targetCount: Int = 6) -> AxisTicks {
        precondition(lower.isFinite && upper.isFinite && lower <= upper, "linear ticks need a finite range, got \(lower)...\(upper)")
        var (lo, hi) = (lower, upper)
        if lo == hi {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        let step = niceNumber(niceNumber(hi - lo, round: false) / Double(max(1, targetCount - 1)), round: true)
        let first = (lo / step).rounded(.down)
        let last = (hi / step).rounded(.up)
        // Multiples of the step computed from integers, so 0.1 * 3 prints as 0.3.
        let values = stride(from: first, through: last, by: 1).map { $0 * step }
        let decimals = max(0, -Int(log10(step).rounded(.down)))
        return AxisTicks(domain: values.first!...values.last!, values: values,
                         labels: values.map { Markup.fixed($0, decimals: decimals) })
    }

    /// Ticks at powers of ten covering `lower...upper` (both positive), rounded out to whole
    /// decades; a range within one power of ten gets the decades on either side. With more
    /// than 8 decades only every second (third, ...) power is labelled.
    public static func logarithmic(lower: Double, upper: Double) -> AxisTicks {
        precondition(lower > 0 && upper.isFinite && lower <= upper, "log ticks need a positive range, got \(lower)...\(upper)")
        var lowExponent = Int(log10(lower).rounded(.down))
        var highExponent = Int(log10(upper).rounded(.up))
        // log10 of an exact power of ten can be off by an ulp; correct with exact decimals.
        if power(lowExponent + 1) <= lower { lowExponent += 1 }
        if power(highExponent - 1) >= upper { highExponent -= 1 }
        if lowExponent == highExponent { lowExponent -= 1; highExponent += 1 }
        let stepExponent = max(1, Int((Double(highExponent - lowExponent) / 8).rounded(.up)))
        // Start on a multiple of the step so labels are 1e-4, 1e-2, 1, ... not 1e-3, 1e-1, ...
        lowExponent = Int((Double(lowExponent) / Double(stepExponent)).rounded(.down)) * stepExponent
        highExponent = Int((Double(highExponent) / Double(stepExponent)).rounded(.up)) * stepExponent
        let exponents = Array(stride(from: lowExponent, through: highExponent, by: stepExponent))
        return AxisTicks(domain: power(lowExponent)...power(highExponent),
                         values: exponents.map(power), labels: exponents.map(powerLabel))
    }

    /// 10^exponent, correctly rounded (parsed from the decimal string).
    static func power(_ exponent: Int) -> Double { Double("1e\(exponent)")! }

    /// "0.001" ... "100000" for exponents -3...5, else "1e-4", "1e6".
    static func powerLabel(_ exponent: Int) -> String {
        switch exponent {
        case 0...5: return "1" + String(repeating: "0", count: exponent)
        case -3 ..< 0: return "0." + String(repeating: "0", count: -exponent - 1) + "1"
        default: return "1e\(exponent)"
        }
    }

    /// The "nice" number (1, 2, 5 or 10 times a power of ten) nearest `x` (`round`) or not
    /// below it.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        let exponent = log10(x).rounded(.down)
        let base = pow(10, exponent)
        let fraction = x / base
        let nice: Double
        if round {
            nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        } else {
            nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        }
        return nice * base
    }

    /// Position of `value` in `domain` as a fraction in 0...1 under `scale`.
    static func fraction(of value: Double, in domain: ClosedRange<Double>, scale: AxisScale) -> Double {
        switch scale {
        case .linear:
            return (value - domain.lowerBound) / (domain.upperBound - domain.lowerBound)
        case .logarithmic:
            return (log10(value) - log10(domain.lowerBound)) / (log10(domain.upperBound) - log10(domain.lowerBound))
        }
    }
}
