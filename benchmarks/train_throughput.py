"""Training throughput and peak memory of WaveGlow configs, with and without per-flow activation checkpointing.

    .venv/bin/python benchmarks/train_throughput.py                 # CPU, 1 thread, batch 1 x 8000 samples
    .venv/bin/python benchmarks/train_throughput.py --device cuda --batch 24 --segment 16000
    .venv/bin/python benchmarks/train_throughput.py --configs small --batch 4 --segment 12800 --precisions fp32 bf16 \
        --steps 4                                  # the built-in voice's step: fp32 vs bf16 autocast (CPU)
    .venv/bin/python benchmarks/train_throughput.py --configs official --flows 12 --batch 24 --segment 16000 \
        --steps 1 --memory-efficient-only          # the target size measured on CPU (~10 min a step, 3.85 GB)
    .venv/bin/python benchmarks/train_throughput.py --configs small --threads 2 --adam-only
                                                   # Adam's step: per-tensor loop vs foreach vs fused kernel,
                                                   # and the weight average's update (train.ema_decay)
    .venv/bin/python benchmarks/train_throughput.py --quick         # smoke run of the same code: seconds

Each row runs in a fresh subprocess (so peak memory is that row's alone):
  1. build the model under weight norm + Adam, take one tiny step (1 x 2048 samples) so gradients and Adam
     moments exist; note the memory in use (`base`);
  2. take --steps full steps (random audio and mel of the row's size); samples/s from the fastest;
  3. peak memory: CPU, the process's max RSS (getrusage; tracemalloc does not see torch's allocations);
     CUDA, torch.cuda.max_memory_allocated. activation peak = peak - base.
"saved MB" is measured separately, after the timed steps (so it cannot change the peak): the bytes autograd keeps from
the forward to the backward pass, parameters excluded, counted through saved_tensors_hooks. It does not depend on
the allocator; with memory_efficient it is what persists (flow inputs, conditioning), and one flow's activations
are added transiently while that flow is recomputed in backward.
The last column extrapolates to NVIDIA's batch 24 x 16000 in fp32: model state (16 bytes per parameter:
weights, gradients, two Adam moments) + activation peak scaled linearly by audio samples per step (every
activation is proportional to batch x segment). It is an estimate, not a measurement. The next column does the
same for train.micro_batches = 2 (two chunks of 12 x 16000 with gradient accumulation: half the activations).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIGS = {"official": REPO / "configs" / "waveglow_ljspeech.json", "small": REPO / "configs" / "waveglow_small.json"}
TARGET_SAMPLES = 24 * 16000  # NVIDIA's batch 24 (paper) x 16000-sample segments
QUICK_WN = {"n_layers": 2, "n_channels": 16}  # --quick: every config's WN shrunk to this (same code otherwise)


def model_config(config: str, n_flows: int | None = None, quick: bool = False):
    """The WaveGlowConfig of `config` (n_flows overridden when given; quick: a tiny WN)."""
    import dataclasses

    from waveglow.training import TrainingConfig

    model = TrainingConfig.from_json(CONFIGS[config]).model
    if n_flows is not None:
        model = dataclasses.replace(model, n_flows=n_flows)
    return dataclasses.replace(model, **QUICK_WN) if quick else model


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def measure(row: dict) -> dict:
    """Run one row in this process; returns its numbers."""
    import torch

    from waveglow.vocoder.model import WaveGlow
    from waveglow.training import WaveGlowForTraining
    from waveglow.training.precision import Precision
    from waveglow.training.trainer import adam_kernel

    torch.set_num_threads(row["threads"])
    device = torch.device(row["device"])
    model_config = model_config_of(row)
    torch.manual_seed(0)
    model = WaveGlow(model_config).apply_weight_norm().to(device)
    forward = WaveGlowForTraining(model, row["memory_efficient"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, **adam_kernel(device))  # as the trainer builds it
    precision = Precision(row.get("precision", "fp32"), device)  # autocast exactly as the trainer applies it
    hop = model_config.hop_length

    def step(batch: int, samples: int) -> float:
        audio = (0.1 * torch.randn(batch, samples, device=device)).clamp(-1, 1)
        mel = torch.randn(batch, model_config.n_mel_channels, samples // hop + 1, device=device) - 5
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with precision.autocast():
            z, logdet = forward(audio, mel)
        loss = WaveGlow.loss(z, logdet, 1.0)
        optimizer.zero_grad(set_to_none=False)  # keep gradient buffers allocated: they are part of `base`
        precision.scaler.scale(loss).backward()
        precision.scaler.step(optimizer)
        precision.scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def saved_for_backward(batch: int, samples: int) -> int:
        """Bytes autograd keeps from forward to backward (each storage once): the allocator-independent part."""
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor):
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return t

        audio = (0.1 * torch.randn(batch, samples, device=device)).clamp(-1, 1)
        mel = torch.randn(batch, model_config.n_mel_channels, samples // hop + 1, device=device) - 5
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), precision.autocast():
            z, logdet = forward(audio, mel)
        del z, logdet
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        return sum(n for ptr, n in storages.items() if ptr not in params)

    step(1, 2048)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _current_rss_bytes()
    times = [step(row["batch"], row["segment"]) for _ in range(row["steps"])]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = peak_rss
    saved = saved_for_backward(row["batch"], row["segment"])  # after the steps: cannot change the peak
    params = model.num_parameters()
    activation = max(peak - base, 0)
    samples = row["batch"] * row["segment"]
    return {**row, "params": params, "samples_per_s": samples / min(times), "step_s": min(times),
            "peak_bytes": peak, "activation_bytes": activation, "saved_bytes": saved,
            "estimate_target_bytes": 16 * params + activation * TARGET_SAMPLES / samples,
            "estimate_target_2micro_bytes": 16 * params + activation * TARGET_SAMPLES / 2 / samples}


def model_config_of(row: dict):
    return model_config(row["config"], row["n_flows"], row.get("quick", False))


def adam_kernels(config: str, threads: int, device: str, repeats: int = 5, steps: int = 10,
                 quick: bool = False) -> dict:
    """Milliseconds per Adam step on `config`'s parameters (weight-norm form, random gradients) for torch's
    per-tensor loop, its foreach variant and the fused kernel the trainer uses, and per update of the trainer's
    weight average; interleaved, median of `repeats`."""
    import statistics

    import torch

    from waveglow.vocoder.model import WaveGlow
    from waveglow.training.averaging import WeightAverage

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = WaveGlow(model_config(config, quick=quick)).apply_weight_norm().to(device)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    kernels = {"per-tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    optimizers = {name: torch.optim.Adam(params, lr=1e-6, **flags) for name, flags in kernels.items()}
    for optimizer in optimizers.values():
        optimizer.step()  # allocate the moments
    average = WeightAverage(model, 0.999)
    average.update(model)  # the first update copies; later ones are the per-step lerp timed here
    steppers = {name: optimizer.step for name, optimizer in optimizers.items()}
    steppers["weight average"] = lambda: average.update(model)
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step in steppers.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - start) / steps * 1000)
    return {"parameters": sum(p.numel() for p in params),
            "ms": {name: statistics.median(values) for name, values in times.items()}}


def print_adam_table(config: str, result: dict) -> None:
    ms = result["ms"]
    print(f"\nAdam step, {config} config ({result['parameters'] / 1e6:.1f} M parameters):")
    print("| kernel | ms per step | speed vs per-tensor |\n|---|---:|---:|")
    for name, value in ms.items():
        if name != "weight average":
            print(f"| {name} | {value:.1f} | {ms['per-tensor'] / value:.2f}x |")
    print(f"weight average update (train.ema_decay, foreach lerp): {ms['weight average']:.1f} ms per step, "
          f"{ms['weight average'] / ms['fused']:.2f}x the fused Adam step")


def default_rows(args) -> list[dict]:
    common = dict(device=args.device, threads=args.threads, batch=args.batch, segment=args.segment,
                  steps=args.steps, quick=args.quick)
    rows = []
    for name in args.configs:
        flows = args.flows if name == "official" else [None]
        for n_flows in flows:
            for memory_efficient in ((True,) if args.memory_efficient_only else (False, True)):
                for precision in args.precisions:
                    rows.append(dict(common, config=name, n_flows=n_flows, memory_efficient=memory_efficient,
                                     precision=precision))
    return rows


def run_row(row: dict) -> dict:
    if row["n_flows"] is None:
        row = dict(row, n_flows=json.loads(CONFIGS[row["config"]].read_text())["model"]["n_flows"])
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(row)], capture_output=True, text=True,
                         cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"row {row} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(results: list[dict]) -> None:
    mb = 1024**2
    head = (f"{'config':<9}{'flows':>6}{'mem-eff':>8}{'precision':>10}{'batch x seg':>13}{'params M':>9}{'samples/s':>11}"
            f"{'saved MB':>9}{'peak MB':>9}{'act. MB':>9}{'act. B/sample':>14}{'est. GB @24x16000':>19}"
            f"{'in 2 micro-batches':>20}{'speed vs fp32':>15}")
    fp32 = {(r["config"], r["n_flows"], r["memory_efficient"]): r["samples_per_s"] for r in results
            if r["precision"] == "fp32"}
    print(head)
    print("-" * len(head))
    for r in results:
        per_sample = r["activation_bytes"] / (r["batch"] * r["segment"])
        baseline = fp32.get((r["config"], r["n_flows"], r["memory_efficient"]))
        speedup = f"{r['samples_per_s'] / baseline:.2f}x" if baseline else "-"
        print(f"{r['config']:<9}{r['n_flows']:>6}{'yes' if r['memory_efficient'] else 'no':>8}{r['precision']:>10}"
              f"{str(r['batch']) + ' x ' + str(r['segment']):>13}{r['params'] / 1e6:>9.1f}{r['samples_per_s']:>11.0f}"
              f"{r['saved_bytes'] / mb:>9.0f}{r['peak_bytes'] / mb:>9.0f}{r['activation_bytes'] / mb:>9.0f}"
              f"{per_sample:>14.0f}"
              f"{r['estimate_target_bytes'] / 1024**3:>19.2f}{r['estimate_target_2micro_bytes'] / 1024**3:>20.2f}"
              f"{speedup:>15}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per row (CPU)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--segment", type=int, default=None, help="audio samples per item (8000; --quick 2048)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per row, fastest reported (2; --quick 1)")
    parser.add_argument("--configs", nargs="+", default=None, choices=sorted(CONFIGS),
                        help="(default: official small; --quick: small)")
    parser.add_argument("--flows", nargs="+", type=int, default=None,
                        help="n_flows values for the official config, activation growth with depth (4 8 12; "
                             "--quick: 2)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (seconds): every config's WN shrunk to 2 layers x 16 channels, one step "
                             "of 1 x 2048 samples, Adam timed once")
    parser.add_argument("--memory-efficient-only", action="store_true",
                        help="only the per-flow-checkpointing rows (the target size, e.g. --batch 24 --segment "
                             "16000, needs ~40 GB without it)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=("fp32", "bf16", "fp16"),
                        help="training precision per row (bf16/fp16: autocast as train.precision does; fp16 CUDA only)")
    parser.add_argument("--adam-only", action="store_true",
                        help="only time Adam's step (per-tensor, foreach, fused) on each config's parameters")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {"segment": (8000, 2048), "steps": (2, 1), "configs": (["official", "small"], ["small"]),
                "flows": ([4, 8, 12], [2])}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    if args.adam_only:
        for name in args.configs:
            timing = {"repeats": 1, "steps": 1} if args.quick else {}
            print_adam_table(name, adam_kernels(name, args.threads, args.device, quick=args.quick, **timing))
        return 0
    results = []
    for row in default_rows(args):
        results.append(run_row(row))
        print(f"done: {results[-1]['config']} flows={results[-1]['n_flows']} "
              f"memory_efficient={results[-1]['memory_efficient']} {results[-1]['precision']}", file=sys.stderr, flush=True)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
