import ArgumentParser

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
            ParallelBenchCommand.self,
        ]
    )
}
