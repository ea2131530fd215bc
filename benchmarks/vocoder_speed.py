"""WaveGlow inference speed and memory: this package's `infer` against a plain NVIDIA-style reference.

Official config (12 flows, 8 WN layers of 256 channels, 80 mels) with seeded random weights; the same mel and latent
for every implementation. Timings are interleaved (A, B, C, A, B, C, ...) in one process and the median is
reported, so background load hits every row alike: read the ratios, not the absolute numbers. Peak memory is
measured per row in a fresh subprocess (peak RSS of the run above the RSS before it, Linux /proc).

    python benchmarks/vocoder_speed.py                       # 1 s, 10 s, 60 s; fp32 and bf16; 2 threads
    python benchmarks/vocoder_speed.py --durations 10 --repeats 5 --no-memory
    python benchmarks/vocoder_speed.py --golden              # bf16 SNR with the golden-parity weights too
    python benchmarks/vocoder_speed.py --quick               # smoke run of the same code (tiny model): seconds

Columns: GFLOP/s = samples/s x flops_per_sample (20.3 M officially); after the table, this machine's fp32 and bf16
matmul speed and the real-time factor it would allow, i.e. what bounds the CPU rows.

Rows:
  reference fp32    benchmarks/reference_waveglow.py (NVIDIA's structure: fused 4096-channel conditioning)
  ours fp32         WaveGlow.infer
  ours bf16         WaveGlow.infer(precision="bf16"): WN in bf16, couplings / 1x1 convs / log-dets in fp32
  ours * untiled    the same with WN.tile_steps = None: each WN layer over the whole sequence (ablation of the
                    time-tiled wavefront, WN.forward_tiled)
  ours * chunked    waveglow.long_form.infer_chunked (60 s only), memory O(chunk)
GPU rows (fp16 / bf16, batch 1 and 8) are added when CUDA is available.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference_waveglow import ReferenceWaveGlow  # noqa: E402
from waveglow import WN, WaveGlow, WaveGlowConfig  # noqa: E402

SAMPLING_RATE = 22050
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "golden"


# --quick: a tiny WaveGlow (80 mels, 4 flows, WN 2 x 16) in place of the official config, same code otherwise.
QUICK_CONFIG = dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16)


def official_model(seed: int = 0, quick: bool = False) -> WaveGlow:
    """NVIDIA's LJSpeech architecture (quick: QUICK_CONFIG); weights seeded, the zero-initialised `end` convs made
    small but non-zero so every coupling really transforms (NVIDIA's init would make them identities)."""
    torch.manual_seed(seed)
    model = WaveGlow(WaveGlowConfig(**QUICK_CONFIG) if quick else WaveGlowConfig()).eval()
    with torch.no_grad():
        for coupling in model.couplings:
            coupling.net.end.weight.normal_(0, 0.02)
            coupling.net.end.bias.normal_(0, 0.02)
    return model


def inputs(model: WaveGlow, seconds: float, batch: int = 1, seed: int = 0):
    frames = max(1, round(seconds * SAMPLING_RATE / model.config.hop_length))
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, model.config.n_mel_channels, frames, generator=g) * 1.5 - 6.0  # log-mel-like range
    z = model.draw_latent(batch, frames * model.config.hop_length // model.config.n_group, g)
    return mel, z


def runners(model: WaveGlow, seconds: float, chunk_frames: int, chunked_from: float = 30):
    """name -> function(mel, z) -> audio, for the CPU rows of this duration (chunked rows from `chunked_from` s)."""
    ref = ReferenceWaveGlow(model)
    rows = {
        "reference fp32": lambda mel, z: ref.infer(mel, 0.666, z),
        "ours fp32": lambda mel, z: model.infer(mel, 0.666, z),
        "ours bf16": lambda mel, z: model.infer(mel, 0.666, z, precision="bf16"),
    }

    def untiled(precision):
        def run(mel, z):
            WN.tile_steps, saved = None, WN.tile_steps
            try:
                return model.infer(mel, 0.666, z, precision=precision)
            finally:
                WN.tile_steps = saved
        return run

    # ablation: the WN over the whole sequence at once, as before the time-tiled wavefront (WN.forward_tiled)
    rows["ours fp32 untiled"] = untiled("fp32")
    rows["ours bf16 untiled"] = untiled("bf16")
    if seconds >= chunked_from:
        from waveglow.vocoder.long_form import infer_chunked

        def chunked(precision):
            def run(mel, z):
                return infer_chunked(model, mel, 0.666, z, chunk_frames=chunk_frames, precision=precision)
            return run

        rows["ours fp32 chunked"] = chunked("fp32")
        rows["ours bf16 chunked"] = chunked("bf16")
    return rows


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    noise = (test.float() - reference.float()).pow(2).sum()
    return float("inf") if noise == 0 else 10 * torch.log10(reference.float().pow(2).sum() / noise).item()


def flops_per_sample(config: WaveGlowConfig) -> float:
    """Multiply-adds x 2 of one inference per audio sample: every WN conv, the 1x1 convs and the upsampler
    (the affine arithmetic is negligible). Official config: 20.3 M."""
    c, macs = config, 0
    for channels in c.channels_per_flow():
        n_a, n_b = channels // 2, channels - channels // 2
        wn = (n_a * c.n_channels + c.n_layers * 2 * c.n_channels * (c.n_channels * c.kernel_size + c.cond_channels)
              + (c.n_layers - 1) * 2 * c.n_channels * c.n_channels + c.n_channels * c.n_channels
              + c.n_channels * 2 * n_b)
        macs += wn + channels * channels  # per grouped step
    per_step = 2 * macs / c.n_group
    upsampler = 2 * c.n_mel_channels * c.n_mel_channels * c.upsample_kernel_size / c.hop_length
    return per_step + upsampler


def matmul_peak_gflops(dtype: torch.dtype, n: int = 4096, repeats: int = 3) -> float:
    """Best of `repeats` square n x n matmuls: what this machine's GEMM reaches with the current threads."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def time_rows(model, seconds, repeats, chunk_frames, only=None, chunked_from: float = 30):
    mel, z = inputs(model, seconds)
    rows = runners(model, seconds, chunk_frames, chunked_from)
    if only:
        rows = {k: v for k, v in rows.items() if k in only}
    outputs, times = {}, {name: [] for name in rows}
    for name, run in rows.items():  # warm-up (allocator, oneDNN primitive caches) and outputs for the diffs
        outputs[name] = run(mel, z)
    for _ in range(repeats):
        for name, run in rows.items():
            start = time.perf_counter()
            run(mel, z)
            times[name].append(time.perf_counter() - start)
    n_samples = mel.shape[2] * model.config.hop_length
    # Differences are against the reference when it ran, else the first row that ran (e.g. with --only).
    base = outputs.get("reference fp32", outputs.get("ours fp32", next(iter(outputs.values()))))
    fp32 = outputs.get("ours fp32")
    results = []
    for name in rows:
        t = statistics.median(times[name])
        results.append({
            "row": name, "seconds": seconds, "samples_per_s": n_samples / t, "rtf": t / (n_samples / SAMPLING_RATE),
            "max_abs_diff_vs_reference": (outputs[name] - base).abs().max().item(),
            "snr_db_vs_ours_fp32": snr_db(fp32, outputs[name]) if "bf16" in name and fp32 is not None else None,
        })
    return results


def peak_memory_mb(row: str, seconds: float, threads: int, chunk_frames: int, quick: bool = False) -> float:
    """Run one row in a fresh process; return its peak RSS above the built model, in MB."""
    cmd = [sys.executable, __file__, "--_memory-row", row, "--durations", str(seconds), "--threads", str(threads),
           "--chunk-frames", str(chunk_frames)] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return float(out.stdout.strip().splitlines()[-1])


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _memory_row(row: str, seconds: float, chunk_frames: int, quick: bool = False) -> None:
    """Peak RSS of one run above the RSS just before it. The high-water mark (VmHWM) is reset first through
    /proc/self/clear_refs, so transients of building the model do not hide the run's own peak (Linux only)."""
    model = official_model(quick=quick)
    mel, z = inputs(model, seconds)
    run = runners(model, seconds, chunk_frames, QUICK_CHUNKED_FROM if quick else 30)[row]
    run(mel[..., :2], z[..., : 2 * model.config.hop_length // model.config.n_group])  # caches: W^-1, bf16 weights
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    run(mel, z)
    print((_status_kb("VmHWM") - before) / 1024)


def golden_bf16_snr() -> float:
    """bf16 vs fp32 on the golden-parity weights (NVIDIA's checkpoint) and mel: the accuracy that matters."""
    import numpy as np

    model = WaveGlow.from_pretrained(GOLDEN / "waveglow_nvidia_train_style.pt")
    io = np.load(GOLDEN / "waveglow_io.npz")
    mel, z = torch.from_numpy(io["infer_mel"]), torch.from_numpy(io["infer_z"])
    return snr_db(model.infer(mel, 0.6, z), model.infer(mel, 0.6, z, precision="bf16"))


def gpu_rows(seconds: float, repeats: int, quick: bool = False):
    """fp16 / bf16 (WN only) at batch 1 and 8 on CUDA: samples/s of audio produced."""
    model = official_model(quick=quick).cuda()
    results = []
    for batch in (1, 8):
        mel, z = inputs(model, seconds, batch)
        mel, z = mel.cuda(), z.cuda()
        for precision in ("fp32", "bf16", "fp16"):
            model.infer(mel, 0.666, z, precision=precision)
            torch.cuda.synchronize()
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                model.infer(mel, 0.666, z, precision=precision)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            t = statistics.median(times)
            n = batch * mel.shape[2] * model.config.hop_length
            results.append({"row": f"cuda {precision} batch {batch}", "seconds": seconds, "samples_per_s": n / t,
                            "rtf": t / (n / SAMPLING_RATE), "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20})
    return results


QUICK_CHUNKED_FROM = 0.2  # --quick: chunked rows from 0.2 s of audio (else 30 s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--durations", type=float, nargs="+", default=None, help="seconds of audio (1 10 60; "
                        "--quick: 0.05 0.2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per row (60 s rows: 1; default 3, "
                        "--quick 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (seconds): tiny model, 256^2 matmuls, chunks of 8 frames from 0.2 s, "
                             "peak memory of the first row of each duration only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-frames", type=int, default=2048, help="chunk length for the chunked rows")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-row peak-memory subprocesses")
    parser.add_argument("--golden", action="store_true", help="also report bf16 SNR on the golden weights")
    parser.add_argument("--only", nargs="*", help="row names to run (default: all)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--_memory-row", dest="memory_row", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.durations is None:
        args.durations = [0.05, 0.2] if args.quick else [1, 10, 60]
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.quick and args.chunk_frames == 2048:
        args.chunk_frames = 8
    chunked_from = QUICK_CHUNKED_FROM if args.quick else 30
    torch.set_num_threads(args.threads)
    if args.memory_row:
        _memory_row(args.memory_row, args.durations[0], args.chunk_frames, args.quick)
        return 0

    print(f"torch {torch.__version__}, {args.threads} threads, {'QUICK tiny' if args.quick else 'official'} "
          f"config, CPU (load average at start: {os.getloadavg()[0]:.2f})")
    results = []
    model = official_model(quick=args.quick)
    for seconds in args.durations:
        results += time_rows(model, seconds, 1 if seconds >= 30 else args.repeats, args.chunk_frames, args.only,
                             chunked_from)
        if not args.no_memory:
            rows = [r for r in results if r["seconds"] == seconds]
            for r in rows[:1] if args.quick else rows:
                r["peak_mb_above_model"] = peak_memory_mb(r["row"], seconds, args.threads, args.chunk_frames,
                                                          args.quick)
    if torch.cuda.is_available():
        results += gpu_rows(1 if args.quick else 10, args.repeats, args.quick)

    ref_speed = {r["seconds"]: r["samples_per_s"] for r in results if r["row"] == "reference fp32"}
    flops = flops_per_sample(model.config)
    print("\n| audio | row | samples/s | vs reference | RTF | GFLOP/s | peak MB above model | "
          "max abs diff vs ref (or 1st row) | bf16 SNR dB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = (f'{r["samples_per_s"] / ref_speed[r["seconds"]]:.2f}x' if r["seconds"] in ref_speed else "-")
        mem = r.get("peak_mb_above_model", r.get("peak_gpu_mb"))
        snr = r.get("snr_db_vs_ours_fp32")
        diff = r.get("max_abs_diff_vs_reference")
        gflops = f"{r['samples_per_s'] * flops / 1e9:.0f}"
        print(f"| {r['seconds']:g} s | {r['row']} | {r['samples_per_s']:,.0f} | {ratio} | {r['rtf']:.2f} | {gflops} | "
              f"{'-' if mem is None else f'{mem:,.0f}'} | {'-' if diff is None else f'{diff:.1e}'} | "
              f"{'-' if snr is None else f'{snr:.1f}'} |")
    # What bounds the CPU rows: the arithmetic. Real time needs flops * rate; compare with this machine's GEMM.
    print(f"\n{flops / 1e6:.1f} MFLOP per audio sample: real time ({SAMPLING_RATE} samples/s) needs "
          f"{flops * SAMPLING_RATE / 1e9:.0f} GFLOP/s.")
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peak = matmul_peak_gflops(dtype, 256 if args.quick else 4096)
        print(f"{name} {256 if args.quick else 4096}^3 matmul on {args.threads} threads: {peak:.0f} GFLOP/s -> at most "
              f"{peak * 1e9 / flops:,.0f} samples/s (RTF {flops * SAMPLING_RATE / 1e9 / peak:.2f}) if every FLOP "
              f"ran at that speed")
    if args.golden:
        print(f"\nbf16 vs fp32 SNR on the golden-parity weights and mel: {golden_bf16_snr():.1f} dB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
