#!/usr/bin/env python3
"""One step of the mi task in plain PyTorch: the work of BM_MiStep/separable_256x2_e32
(bench/mi_step_bench.cpp), op for op, for a side-by-side speed comparison with the C++ harness.

    /usr/bin/python3 bench/pytorch_mi_step.py --threads 1 --batch 64

Each step: a fresh gaussian_staircase batch (dim 20, one level at 6 nats, identity transform)
from a generator seeded 2; the separable critic S = h(y) @ g(x).T with g, h each
20 -> hidden -> ReLU -> hidden -> ReLU -> embed; the MI task's split of S into positives (the
diagonal, [N]) and negatives (the off-diagonal of each row, [N, N-1]); InfoNCE (temperature 1)
and its MI estimate, read with .item(); Adam (lr 5e-4) zero_grad, backward, step.

Threads are set as the C++ benchmarks set them (harness/src/run/environment.cpp,
configure_threads): intra-op = --threads, inter-op = 1, OpenBLAS's own pool = --threads,
deterministic algorithms on (warn only). Each repeat times --steps steps after --warmup untimed
ones and prints their mean; the last line is the median over repeats (Google Benchmark also
reports a mean per iteration).
"""
import argparse
import ctypes
import math
import statistics
import time

import torch
import torch.nn as nn


def pin_openblas(threads):
    """OpenBLAS keeps its own thread pool, which torch.set_num_threads does not reach (as in C++)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    except OSError:
        libs = []
    for path in libs:
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing new
            setter = lib.openblas_set_num_threads
        except (OSError, AttributeError):
            continue
        setter(ctypes.c_int(threads))
        try:
            lib.openblas_get_config.restype = ctypes.c_char_p
            return f"{lib.openblas_get_config().decode()}; threads {threads}"
        except AttributeError:
            return f"OpenBLAS ({path}); threads {threads}"
    return "no OpenBLAS found (" + (", ".join(libs) or "no BLAS library mapped") + ")"


def mlp(inp, hidden, layers, out):
    # plugins/encoders/common/mlp.hpp make_mlp: in -> [Linear(width, hidden), ReLU] x layers -> Linear(width, out)
    mods, width = [], inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out))
    return nn.Sequential(*mods)


class GaussianStaircase:
    """plugins/datasets/gaussian_staircase/gaussian_staircase.cpp with one level (identity transform)."""

    def __init__(self, dim, mi):
        self.dim = dim
        # rho_ = xt::sqrt(1.0 - xt::exp(-2.0 * target / d)); true_mi_ = -(d / 2.0) * xt::log(1.0 - rho_ * rho_)
        self.rho = math.sqrt(1.0 - math.exp(-2.0 * mi / dim))
        self.true_mi = -(dim / 2.0) * math.log(1.0 - self.rho * self.rho)

    def sample(self, batch, generator):
        rho = self.rho
        x = torch.randn(batch, self.dim, generator=generator, dtype=torch.float32)
        eps = torch.randn(batch, self.dim, generator=generator, dtype=torch.float32)
        y = rho * x + math.sqrt(1.0 - rho * rho) * eps
        return x, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps before the first repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.batch < 2 or args.threads < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--batch needs >= 2; --threads, --steps and --repeats >= 1")

    try:
        torch.set_num_interop_threads(1)  # configure_threads: inter-op pinned to 1 whatever --threads is
    except RuntimeError:
        pass
    torch.set_num_threads(args.threads)
    blas = pin_openblas(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    parallel = torch.__config__.parallel_info().splitlines()
    print(f"torch {torch.__version__}; {parallel[0].strip()} {' '.join(l.strip() for l in parallel[1:3])}; "
          f"blas {blas}")

    dim, n, temperature = 20, args.batch, 1.0
    dataset = GaussianStaircase(dim, 6.0)
    torch.manual_seed(0)  # as the C++ bench, before building the critic
    g = mlp(dim, args.hidden, 2, args.embed)
    h = mlp(dim, args.hidden, 2, args.embed)
    params = list(g.parameters()) + list(h.parameters())
    adam = torch.optim.Adam(params, lr=5e-4)
    off = ~torch.eye(n, dtype=torch.bool)  # view_pairs.cpp off_diagonal_mask, made once
    gen = torch.Generator().manual_seed(2)

    def step():
        x, y = dataset.sample(n, gen)
        # separable.cpp score_matrix: S[i, j] = h(y_i)·g(x_j)
        s = torch.matmul(h(y.flatten(1)), g(x.flatten(1)).t())
        # view_pairs.cpp split_paired_scores: pos [N] = diagonal, neg [N, N-1] = off-diagonal by row
        pos = s.diagonal()
        neg = s.masked_select(off).view(n, n - 1)
        # score_math.hpp infonce_log_softmax_positive + infonce.cpp evaluate
        logits = torch.cat([pos.unsqueeze(1), neg], 1) / temperature
        log_softmax_pos = logits.select(1, 0) - torch.logsumexp(logits, 1)
        ceiling = math.log(float(neg.size(1) + 1))
        loss = -log_softmax_pos.mean()
        mi = ceiling - loss.detach()
        _diagnostic = torch.full((), ceiling, dtype=pos.dtype)  # the plugin's mi_ceiling diagnostic
        adam.zero_grad()
        loss.backward()
        adam.step()
        return mi.item()

    for _ in range(args.warmup):
        step()
    per_step = []
    for r in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            mi = step()
        us = (time.perf_counter() - start) / args.steps * 1e6
        per_step.append(us)
        print(f"python_mi_step repeat={r + 1} batch={n} hidden={args.hidden} embed={args.embed} "
              f"threads={args.threads} steps={args.steps} us_per_step={us:.1f} mi_estimate={mi:.3f}")
    print(f"python_mi_step batch={n} hidden={args.hidden} embed={args.embed} threads={args.threads} "
          f"median_us_per_step={statistics.median(per_step):.1f}")


if __name__ == "__main__":
    main()
