"""Glow on sklearn digits: permutation x coupling, shallow vs deep, against simple baselines (test bits/dim).

    .venv/bin/python benchmarks/glow_digits.py                 # the full comparison, ~10 CPU minutes on 1 thread
    .venv/bin/python benchmarks/glow_digits.py --quick         # smoke run of the same code: tiny models, seconds

Every run trains the same architecture (L levels, K steps, hidden width, logit pre-processing) for a fixed number
of optimiser steps from its seed (which also draws the initial rotations / shuffles), then scores the fixed
hashed test split (359 images) with one dequantisation draw per image. Digits have 17 levels (0..16), so all
numbers use 17 bins: uniform = log2 17, and the per-pixel categorical (Laplace smoothing) and the full-covariance
Gaussian (fitted on dequantised training images) are fitted on the same training split.
Writes <out-dir>/glow_digits_results.json, glow_digits_table.md and sample grids of the best model; prints the
markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from waveglow_data.images import load_digits, to_unit  # noqa: E402
from waveglow.glow import COUPLINGS, PERMUTATIONS, Glow, GlowConfig  # noqa: E402
from waveglow.common.atomic import atomic_write_bytes  # noqa: E402
from waveglow.glow.checkpoint import save_glow, save_grid  # noqa: E402
from waveglow.glow.training import categorical_bpd, evaluate_bpd, gaussian_bpd, train_glow, uniform_bpd  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run (seconds): 1 seed, 4 steps, K=2 (shallow 1), hidden 8, reverse/conv1x1 only")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=250, help="optimiser steps per run")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--depth", type=int, default=8, help="K of the main comparison (the 'deep' model)")
    p.add_argument("--shallow-depth", type=int, default=2, help="K of the shallow model")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--logit-alpha", type=float, default=0.05)
    p.add_argument("--permutations", nargs="+", choices=PERMUTATIONS, default=list(PERMUTATIONS))
    p.add_argument("--couplings", nargs="+", choices=COUPLINGS, default=list(COUPLINGS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", default="docs/glow", help="where results, table and sample grids go")
    p.add_argument("--save-best", default=None, help="also save the best model as a checkpoint directory here")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.batch_size = 1, 4, 32
        args.depth, args.shallow_depth, args.hidden = 2, 1, 8
        args.permutations = [q for q in args.permutations if q in ("reverse", "conv1x1")] or args.permutations
    return args


def run_one(args, data, permutation: str, coupling: str, depth: int, seed: int) -> dict:
    x_train, x_test = data
    torch.manual_seed(seed)
    config = GlowConfig(in_channels=1, image_size=(8, 8), levels=args.levels, depth=depth, hidden=args.hidden,
                        permutation=permutation, coupling=coupling, n_bins=17, logit_alpha=args.logit_alpha,
                        seed=seed)
    model = Glow(config)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    result = train_glow(model, x_train, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        warmup=max(1, args.steps // 10), seed=seed, log_every=max(1, args.steps))
    test_bpd = evaluate_bpd(model, x_test)
    row = {"permutation": permutation, "coupling": coupling, "depth": depth, "seed": seed, "test_bpd": test_bpd,
           "train_bpd_last": result.history[-1][1]["bpd"], "cpu_s": time.process_time() - cpu_start,
           "wall_s": time.perf_counter() - wall_start}
    print(f"  {permutation:8s} {coupling:8s} K={depth:<2d} seed {seed}: test {test_bpd:.4f} bits/dim "
          f"({row['cpu_s']:.0f} CPU s)", file=sys.stderr, flush=True)
    return row, model


def summary(rows: list[dict]) -> tuple[float, float, float]:
    values = [r["test_bpd"] for r in rows]
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), min(values)


def fmt(rows: list[dict]) -> str:
    if not rows:
        return "—"
    mean, std, best = summary(rows)
    return f"{mean:.3f} ± {std:.3f} (best {best:.3f})"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = load_digits()
    x_train = torch.from_numpy(to_unit(ds.train_images, 17))
    x_test = torch.from_numpy(to_unit(ds.test_images, 17))
    flat_train, flat_test = ds.train_images.reshape(len(x_train), -1), ds.test_images.reshape(len(x_test), -1)
    baselines = {"uniform (log2 17)": uniform_bpd(17),
                 "full-covariance Gaussian (dequantised)": gaussian_bpd(flat_train, flat_test, 17),
                 "per-pixel categorical (Laplace)": categorical_bpd(flat_train, flat_test, 17)}
    print(f"digits: {len(x_train)} train / {len(x_test)} test, {args.steps} steps x batch {args.batch_size}, "
          f"L={args.levels} hidden={args.hidden}, {args.seeds} seeds", file=sys.stderr, flush=True)
    cpu_start = time.process_time()
    rows, best = [], (float("inf"), None, None)
    for permutation in args.permutations:
        for coupling in args.couplings:
            for seed in range(args.seeds):
                row, model = run_one(args, (x_train, x_test), permutation, coupling, args.depth, seed)
                rows.append(row)
                if row["test_bpd"] < best[0]:
                    best = (row["test_bpd"], model, row)
    main_cpu = time.process_time() - cpu_start
    # Shallow vs deep: the same training budget with K = shallow_depth, for the best permutation/coupling pair.
    by_pair = {(p, c): [r for r in rows if r["permutation"] == p and r["coupling"] == c]
               for p in args.permutations for c in args.couplings}
    best_pair = min(by_pair, key=lambda k: summary(by_pair[k])[0])
    shallow = [run_one(args, (x_train, x_test), *best_pair, args.shallow_depth, seed)[0]
               for seed in range(args.seeds)]
    total_cpu = time.process_time() - cpu_start

    lines = [f"Test bits/dim on sklearn digits (17 bins, {len(x_test)} test images), mean ± std over "
             f"{args.seeds} seed(s); L={args.levels}, K={args.depth}, hidden={args.hidden}, "
             f"{args.steps} steps x batch {args.batch_size}, logit alpha {args.logit_alpha}.", "",
             "| permutation | " + " | ".join(args.couplings) + " |",
             "|---|" + "---|" * len(args.couplings)]
    for p in args.permutations:
        lines.append(f"| {p} | " + " | ".join(fmt(by_pair[(p, c)]) for c in args.couplings) + " |")
    lines += ["", f"| shallow vs deep ({best_pair[0]}/{best_pair[1]}) | test bits/dim | parameters |",
              "|---|---|---|"]
    for depth, group in ((args.shallow_depth, shallow), (args.depth, by_pair[best_pair])):
        n_params = sum(p.numel() for p in Glow(GlowConfig(image_size=(8, 8), levels=args.levels, depth=depth,
                                                           hidden=args.hidden, n_bins=17)).parameters())
        lines.append(f"| K={depth} | {fmt(group)} | {n_params} |")
    lines += ["", "| baseline | test bits/dim |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in baselines.items()]
    conv = [summary(by_pair[("conv1x1", c)])[0] for c in args.couplings if ("conv1x1", c) in by_pair]
    fixed = {p: [summary(by_pair[(p, c)])[0] for c in args.couplings]
             for p in ("reverse", "shuffle") if p in args.permutations}
    if conv and fixed:
        verdicts = []
        for i, c in enumerate(args.couplings):
            wins = all(conv[i] < fixed[p][i] for p in fixed)
            verdicts.append(f"{c}: {'yes' if wins else 'no'}")
        lines += ["", f"conv1x1 mean below {' and '.join(fixed)}? " + "; ".join(verdicts)]
    lines += ["", f"best run: {best[2]['permutation']}/{best[2]['coupling']} seed {best[2]['seed']}: "
                  f"{best[0]:.4f} bits/dim. CPU time: main comparison {main_cpu / 60:.1f} min, "
                  f"with shallow runs {total_cpu / 60:.1f} min ({args.threads} thread(s))."]
    table = "\n".join(lines)
    print(table)

    out = Path(args.out_dir)
    suffix = "_quick" if args.quick else ""
    results = {"args": vars(args), "baselines": baselines, "runs": rows, "shallow_runs": shallow,
               "main_cpu_s": main_cpu, "total_cpu_s": total_cpu}
    atomic_write_bytes(out / f"glow_digits_results{suffix}.json", (json.dumps(results, indent=1) + "\n").encode())
    atomic_write_bytes(out / f"glow_digits_table{suffix}.md", (table + "\n").encode())
    model = best[1]
    for temperature in (0.7, 1.0):
        samples = model.sample(64, temperature, generator=torch.Generator().manual_seed(0))
        save_grid(samples, out / f"digits_samples_t{temperature:g}{suffix}.png", nrow=8, upscale=8)
    if args.save_best:
        save_glow(model, args.save_best, {"data": {"name": "digits"}, "training": best[2]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
