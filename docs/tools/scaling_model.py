#!/usr/bin/env python3
"""The scaling model of docs/scaling.md: predicted data-parallel efficiency of one late HF
iteration on P machines, from the times measured by `hf bench --json` and
`mpirun -np 2 hf bench-mpi --json` on one machine.

    python3 docs/tools/scaling_model.py            # prints the table of docs/scaling.md

Per iteration with k CG steps (a warm start: k + 1 curvature products):
    W     = t_g + (k + 1) t_Gv + t_rest        work that splits P ways
    T(1)  = W + k t_v                          t_v: CG's vector work, repeated on every rank
    T(P)  = W / P + k t_v + m t_ar(P)          m = k + 3 all-reduces of n Floats
    t_ar  = 2 (P - 1) / P * 4 n / B + 2 (P - 1) alpha   (ring; B bandwidth, alpha latency)
    E(P)  = T(1) / (P T(P))
"""

# Measured on the idle development machine (AMD EPYC family 25 model 1, Zen 3, 2 cores,
# OpenBLAS 0.3.21 core Zen), 2026-12-01; see docs/scaling.md for the commands.
MNIST = dict(
    t_g=9.00,      # hf bench: full-data gradient + squared-gradient pass, 60000 cases, 2 threads
    t_gv=1.31,     # hf bench: one Gauss-Newton product on 7500 cases, 2 threads
    # hf bench's 30-step iteration (67.0 s) less its gradient, 31 products and linearization:
    # backtracking evaluations and the line search's full-data passes.
    t_rest=67.0 - 9.00 - 31 * 1.31 - 0.68,
    t_v=0.029,     # bench-mpi: cg_vector_seconds_per_step with the fused CG sweep (0.039-0.042 before)
    n=2_837_314,
)
# FACES's passes scaled from MNIST's by their flops (gradient 4.42e12 against 9.26e11,
# Gauss-Newton product on 5175 cases 2.86e11 against 1.46e11); vector work by parameter count.
_g, _gv = 4.42e12 / 9.26e11, 2.86e11 / 1.46e11
FACES = dict(t_g=MNIST["t_g"] * _g, t_gv=MNIST["t_gv"] * _gv, t_rest=MNIST["t_rest"] * _g,
             t_v=MNIST["t_v"] * 7_537_655 / MNIST["n"], n=7_537_655)

NETWORKS = {"10 Gb/s": (1.25e9, 30e-6), "100 Gb/s": (12.5e9, 3e-6)}  # assumed, not measured
K = 250  # CG's cap late in a run


def allreduce_seconds(p, n, bandwidth, latency):
    return 2 * (p - 1) / p * 4 * n / bandwidth + 2 * (p - 1) * latency


def efficiency(preset, p, bandwidth, latency, t_v):
    work = preset["t_g"] + (K + 1) * preset["t_gv"] + preset["t_rest"]
    one = work + K * t_v
    many = work / p + K * t_v + (K + 3) * allreduce_seconds(p, preset["n"], bandwidth, latency)
    return one / (p * many)


def main():
    print("| preset | network | t_v per step | P = 16 | P = 64 | t_ar at 16 / 64 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, preset in (("MNIST", MNIST), ("FACES", FACES)):
        for net, (bandwidth, latency) in NETWORKS.items():
            for t_v in (0.0, preset["t_v"]):
                e16, e64 = (efficiency(preset, p, bandwidth, latency, t_v) for p in (16, 64))
                ar = (" %.1f / %.1f ms" % tuple(1e3 * allreduce_seconds(p, preset["n"], bandwidth, latency)
                                                for p in (16, 64))) if t_v == 0 else ""
                how = "measured" if preset is MNIST else "scaled by n"
                label = "0 (communication only)" if t_v == 0 else "%.3f s (%s)" % (t_v, how)
                print(f"| {name} | {net} | {label} | {e16:.2f} | {e64:.2f} |{ar} |")
    w = MNIST["t_g"] + (K + 1) * MNIST["t_gv"] + MNIST["t_rest"]
    print(f"\nMNIST work per late iteration W = {w:.0f} s; FACES "
          f"{FACES['t_g'] + (K + 1) * FACES['t_gv'] + FACES['t_rest']:.0f} s")


if __name__ == "__main__":
    main()
