import ArgumentParser
import Foundation

/// `hf`: train deep networks with Hessian-free optimization (Martens 2010).
@main
struct HF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hf",
        abstract: "Hessian-free optimization (Martens 2010) for deep neural networks.",
        version: "0.1.0",
        subcommands: [
            // Each subcommand lives in its own file.
            DemoCommand.self,
            TrainCommand.self,
            EvaluateCommand.self,
            ReportCommand.self,
            RosenbrockCommand.self,
            DataCommand.self,
            BenchCommand.self,
            BLASCommand.self,
            ParallelBenchCommand.self,
        ]
    )

    /// Chooses the BLAS core first (this may restart the process with a better one), then
    /// parses and runs a command; every failure ends here and becomes one line
    /// `hf: error: ...` on stderr, exit status 64 for usage errors and 1 for the rest.
    static func main() {
        BLASStartup.chooseCore()
        let arguments = CommandLineArguments.joiningNegativeValues(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            fail(error, arguments: arguments)
        }
    }

    static func fail(_ error: Error, arguments: [String]) -> Never {
        if let code = error as? ExitCode { Foundation.exit(code.rawValue) }
        let code = exitCode(for: error)
        // Help and --version end through ArgumentParser's own printing.
        if code == .success { exit(withError: error) }
        if code == .validationFailure {
            // ArgumentParser's messages (unknown option, bad value) and ValidationError.
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            Console.error("hf: error: \(message) (see '\(CommandLineArguments.helpCommand(arguments))')")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        Console.error("hf: error: \(Console.oneLine(error))")
        Foundation.exit(ExitCode.failure.rawValue)
    }
}

/// Rewriting of the raw arguments before ArgumentParser sees them.
enum CommandLineArguments {
    /// `--option -1` becomes `--option=-1`: no flag of `hf` looks like a number, so a
    /// negative number after an option is its value, and the option's own range check (not
    /// "missing value") answers.
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for argument in arguments {
            if let last = result.last, last.hasPrefix("--"), !last.contains("="), last != "--", isNegativeNumber(argument) {
                result[result.count - 1] = last + "=" + argument
            } else {
                result.append(argument)
            }
        }
        return result
    }

    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        let body = text.dropFirst()
        return body.first.map { $0.isNumber || $0 == "." } == true && Double(body) != nil
    }

    /// `hf <subcommand...> --help` for the subcommands named at the start of `arguments`.
    static func helpCommand(_ arguments: [String]) -> String {
        var names = ["hf"]
        var command: ParsableCommand.Type = HF.self
        for argument in arguments {
            guard let sub = command.configuration.subcommands.first(where: { $0._commandName == argument }) else { break }
            names.append(argument)
            command = sub
        }
        return (names + ["--help"]).joined(separator: " ")
    }
}
