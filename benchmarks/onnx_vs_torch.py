"""WaveGlow inference: onnxruntime (a `waveglow export --onnx` graph) against torch, fp32, same mel and latent.

Two configs in one run: the official one (NVIDIA's 12 flows x WN 8 x 256, 80 mels; seeded random weights with the
zero-initialised `end` convs made small but non-zero, as in vocoder_speed.py: speed does not depend on the values)
and the small one (configs/waveglow_small.json: the committed voice voices/in_training when present and without a
sine excitation, else seeded
random weights). Each model is exported with `waveglow.onnx_export.export_onnx`, then torch `infer(precision="fp32")`
and onnxruntime run interleaved (torch, onnx, torch, onnx, ...) on `--threads` threads each; the median is reported
with the real-time factor (compute seconds / audio seconds) and the max |onnx - torch| on the timed mel.

    python benchmarks/onnx_vs_torch.py                 # official and small, 5 s of audio, 3 repeats, 2 threads
    python benchmarks/onnx_vs_torch.py --quick         # smoke run of the same code (tiny models): seconds
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from waveglow import WaveGlow, WaveGlowConfig  # noqa: E402
from waveglow.vocoder.onnx_export import OnnxWaveGlow, check_mel, export_onnx  # noqa: E402

SMALL_CONFIG = REPO / "configs" / "waveglow_small.json"
SMALL_VOICE = REPO / "voices" / "in_training"
# --quick: tiny stand-ins of the two configs (same code otherwise)
QUICK = {"official": dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16,
                          upsample_kernel_size=256),
         "small": dict(n_flows=2, n_group=64, n_early_every=4, n_early_size=16, n_layers=2, n_channels=16,
                       upsample_kernel_size=16, conditioning="group")}


def cpu_description() -> str:
    """lscpu's model name, torch's CPU capability and whether the CPU has native bf16."""
    name = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                    name)
        flags = next((line.split(":", 1)[1].split() for line in out.splitlines() if line.startswith("Flags")), [])
    except (OSError, subprocess.SubprocessError):
        flags = []
    bf16 = [f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile")]
    return (f"{name}, {os.cpu_count()} logical CPUs, torch CPU capability {torch.backends.cpu.get_cpu_capability()}"
            f", native bf16 flags: {' '.join(bf16) or 'none'}")


def build(name: str, quick: bool) -> tuple[WaveGlow, str]:
    if quick:
        torch.manual_seed(0)
        model, source = WaveGlow(WaveGlowConfig(**QUICK[name])).eval(), "random (quick tiny)"
    else:
        from waveglow.training import TrainingConfig

        if name == "small" and (SMALL_VOICE / "model.safetensors").is_file():
            voice = WaveGlow.from_pretrained(SMALL_VOICE).eval()
            if not voice.config.excitation_channels:
                return voice, "voices/in_training"
        torch.manual_seed(0)
        config = TrainingConfig.from_json(SMALL_CONFIG).model if name == "small" else WaveGlowConfig()
        # the graph takes no sine excitation: the small config's flow without it (what the graph would run)
        config = dataclasses.replace(config, excitation_channels=0, harmonics=0, aligned_harmonics=False,
                                     envelope_iterations=0)
        model, source = WaveGlow(config).eval(), "random" + (" (without the excitation)" if name == "small" else "")
    with torch.no_grad():
        for coupling in model.couplings:  # NVIDIA zero-inits `end`: make every coupling act
            coupling.net.end.weight.normal_(0, 0.02)
            coupling.net.end.bias.normal_(0, 0.02)
    return model, source


def bench(name: str, seconds: float, repeats: int, threads: int, quick: bool, workdir: Path) -> list[dict]:
    model, source = build(name, quick)
    c = model.config
    started = time.perf_counter()
    report = export_onnx(model, workdir / f"{name}.onnx", tolerance=None)
    export_seconds = time.perf_counter() - started
    runner = OnnxWaveGlow(report.path, threads=threads)
    frames = max(1, round(seconds * c.sampling_rate / c.hop_length))
    mel = check_mel(c, frames, seed=1)
    z = model.draw_latent(1, frames * c.hop_length // c.n_group, torch.Generator().manual_seed(1))
    audio_seconds = frames * c.hop_length / c.sampling_rate
    runs = {"torch": lambda: model.infer(mel, sigma=0.666, z=z, precision="fp32"),
            "onnxruntime": lambda: runner.infer(mel, sigma=0.666, z=z)}
    short = check_mel(c, 8), model.draw_latent(1, 8 * c.hop_length // c.n_group, torch.Generator().manual_seed(2))
    model.infer(*short[:1], sigma=0.666, z=short[1], precision="fp32")  # warm-up (allocators, ORT's arena)
    runner.infer(short[0], sigma=0.666, z=short[1])
    times = {k: [] for k in runs}
    outputs = {}
    for _ in range(repeats):
        for key, run in runs.items():
            t0 = time.perf_counter()
            outputs[key] = run()
            times[key].append(time.perf_counter() - t0)
    diff = (outputs["onnxruntime"] - outputs["torch"]).abs().max().item()
    torch_median = statistics.median(times["torch"])
    rows = []
    for key in runs:
        median = statistics.median(times[key])
        rows.append({"config": name, "weights": source, "runtime": key, "audio_seconds": audio_seconds,
                     "rtf": median / audio_seconds, "samples_per_second": frames * c.hop_length / median,
                     "speedup": torch_median / median, "max_abs_diff": diff if key != "torch" else 0.0,
                     "export_check": report.max_error, "export_seconds": export_seconds,
                     "onnx_mb": report.bytes / 1e6, "parameters": model.num_parameters()})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["official", "small"], choices=["official", "small"])
    parser.add_argument("--seconds", type=float, default=None, help="audio seconds per run (default 5; --quick 0.05)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per runtime (default 3; --quick 1)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and for onnxruntime (default 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="tiny stand-ins of both configs, 0.05 s: a smoke run")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.05 if args.quick else 5.0)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    import onnxruntime

    print(f"CPU: {cpu_description()}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, fp32, {args.threads} threads each, "
          f"{seconds:g} s of audio, median of {repeats}" + (f", load average {load[0]:.2f}" if load else "")
          + (" (QUICK: tiny models)" if args.quick else ""))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            rows += bench(name, seconds, repeats, args.threads, args.quick, Path(tmp))
    print()
    print("| config | weights | runtime | RTF | samples/s | vs torch | max abs diff vs torch |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        diff = "-" if r["runtime"] == "torch" else f"{r['max_abs_diff']:.1e}"
        print(f"| {r['config']} | {r['weights']} | {r['runtime']} | {r['rtf']:.3f} | {r['samples_per_second']:,.0f} "
              f"| {r['speedup']:.2f}x | {diff} |")
    print()
    for r in rows[::2]:
        print(f"{r['config']}: {r['parameters']:,} parameters, {r['onnx_mb']:.1f} MB ONNX file, exported and checked "
              f"in {r['export_seconds']:.1f} s (export check: max |diff| {r['export_check']:.1e})")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_description(), "threads": args.threads, "rows": rows},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
