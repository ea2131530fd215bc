"""Long-form vocoding: how much overlap chunks need, and what full vs chunked inference costs in memory.

    python benchmarks/vocode_long_form.py                          # golden weights: overlap table + 60 s memory
    python benchmarks/vocode_long_form.py --model nvidia-size --seconds 60 --skip-full   # NVIDIA's 87.7M config
    python benchmarks/vocode_long_form.py --quick                  # smoke run of the same code: seconds

Table 1 (overlap): max |chunked - full| over a real LJSpeech mel (tests/fixtures/ljspeech, LJ001-0002) against
the context frames given to each chunk, with the latent drawn once and sliced.
Table 2 (memory): each mode runs in a fresh process; "peak above model" is the peak RSS during inference minus the
RSS just before it (model, mel and latent loaded), read from the kernel's high-water mark after resetting it
(/proc/self/clear_refs), or from 2 ms polling where that is not allowed.

Weights: "golden" is the NVIDIA-parity 16-mel test checkpoint. "nvidia-size" is NVIDIA's LJSpeech configuration
(80 mels, 12 flows, 8 WN layers of 256 channels) with random weights, its zero-initialised WN `end` layers
perturbed so the couplings are not identities: trained weights do not exist yet. Memory and receptive field depend
on the configuration only; how fast the influence of far context decays depends on the (trained) weights.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from waveglow import WaveGlow  # noqa: E402
from waveglow.audio.features import MelSpectrogram, load_wav  # noqa: E402
from waveglow.vocoder.config import WaveGlowConfig  # noqa: E402
from waveglow.vocoder.long_form import infer_chunked, receptive_field  # noqa: E402

GOLDEN = ROOT / "tests" / "fixtures" / "golden" / "waveglow_nvidia_train_style.pt"
CLIPS = sorted((ROOT / "tests" / "fixtures" / "ljspeech" / "wavs").glob("*.flac"))
SIGMA = 0.666


# --quick: nvidia-size shrunk to 4 flows and a WN of 2 x 16 (80 mels kept), same code otherwise.
QUICK_CONFIG = dict(n_flows=4, n_early_every=2, n_layers=2, n_channels=16)


def build_model(kind: str, quick: bool = False) -> WaveGlow:
    if kind == "golden":
        return WaveGlow.from_pretrained(GOLDEN).eval()
    torch.manual_seed(0)
    model = WaveGlow(WaveGlowConfig(**QUICK_CONFIG) if quick else WaveGlowConfig()).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for coupling in model.couplings:  # NVIDIA zero-inits `end`: perturb it so every coupling acts
            end = coupling.net.end
            end.weight.copy_(torch.randn(end.weight.shape, generator=generator) * 0.32 / end.weight.shape[1] ** 0.5)
            end.bias.copy_(torch.randn(end.bias.shape, generator=generator) * 0.05)
    return model


def real_mel(n_mels: int, seconds: float | None = None) -> torch.Tensor:
    """[1, n_mels, F] log-mel of the fixture clips, repeated to `seconds` (None: LJ001-0002 alone)."""
    clips = [load_wav(path)[0] for path in CLIPS]
    if seconds is None:
        audio = clips[0]
    else:
        need = int(seconds * 22050)
        audio = np.concatenate([clips[i % len(clips)] for i in range(need // 30000 + 2)])[:need]
    return MelSpectrogram(n_mels=n_mels)(torch.from_numpy(audio))[None]


# ---- table 1: overlap ---------------------------------------------------------------------------------------------
def overlap_table(model: WaveGlow, chunk_frames: list[int], overlaps: list, seconds: float | None) -> list[dict]:
    mel = real_mel(model.config.n_mel_channels, seconds)
    steps = mel.shape[2] * model.config.hop_length // model.config.n_group
    z = model.draw_latent(1, steps, torch.Generator().manual_seed(0))
    full = model.infer(mel, SIGMA, z=z)
    rows = []
    for chunk in chunk_frames:
        for overlap in overlaps:
            out = infer_chunked(model, mel, SIGMA, z=z, chunk_frames=chunk, overlap_frames=overlap)
            rows.append({"chunk": chunk, "overlap": overlap, "max_abs_error": (out - full).abs().max().item()})
    return rows


# ---- table 2: memory (one fresh process per mode) -----------------------------------------------------------------
def rss_bytes(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


class PeakRss:
    """Peak RSS over a block: the kernel's VmHWM after resetting it, else polling every 2 ms."""

    def __enter__(self):
        self.before = rss_bytes()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the high-water mark (Linux >= 4.0)
            self.kernel = rss_bytes("VmHWM") <= self.before + (1 << 20)
        except OSError:
            self.kernel = False
        self.polled, self._stop = self.before, threading.Event()
        if not self.kernel:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.polled = max(self.polled, rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self.peak = rss_bytes("VmHWM") if self.kernel else max(self.polled, rss_bytes())
        return False


def measure(args) -> None:
    """Child process: one mode, prints a JSON line, saves the audio for the parent to compare."""
    torch.set_num_threads(args.threads)
    model = build_model(args.model, args.quick)
    mel = real_mel(model.config.n_mel_channels, args.seconds)
    steps = mel.shape[2] * model.config.hop_length // model.config.n_group
    z = model.draw_latent(1, steps, torch.Generator().manual_seed(0))
    started = time.perf_counter()
    with torch.inference_mode(), PeakRss() as rss:
        if args.measure == "full":
            audio = model.infer(mel, SIGMA, z=z)
        else:
            audio = infer_chunked(model, mel, SIGMA, z=z, chunk_frames=args.chunk_frames)
    seconds = time.perf_counter() - started
    np.save(args.audio_out, audio[0].numpy())
    print(json.dumps({"mode": args.measure, "frames": mel.shape[2], "rss_before": rss.before, "peak": rss.peak,
                      "kernel_hwm": rss.kernel, "seconds": seconds,
                      "model_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}))


def memory_table(args) -> list[dict]:
    rows, audio = [], {}
    modes = ["chunked"] if args.skip_full else ["full", "chunked"]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            out = Path(tmp) / f"{mode}.npy"
            cmd = [sys.executable, __file__, "--measure", mode, "--model", args.model, "--seconds", str(args.seconds),
                   "--chunk-frames", str(args.chunk_frames), "--threads", str(args.threads), "--audio-out", str(out)]
            cmd += ["--quick"] if args.quick else []
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            audio[mode] = np.load(out)
    if "full" in audio:
        diff = float(np.abs(audio["full"] - audio["chunked"]).max())
        for row in rows:
            row["max_diff_vs_full"] = 0.0 if row["mode"] == "full" else diff
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("golden", "nvidia-size"), default="golden")
    parser.add_argument("--seconds", type=float, default=None,
                        help="length of the mel for the memory table (default 60; --quick 3)")
    parser.add_argument("--chunk-frames", type=int, default=None, help="(default 512; --quick 64)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="memory table: chunked only (full is slow/large)")
    parser.add_argument("--skip-overlap", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--overlap-seconds", type=float, default=None,
                        help="mel length for the overlap table (default: LJ001-0002, 1.9 s)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (seconds): 3 s memory table, fewer overlaps, nvidia-size shrunk to 4 flows of "
                             "WN 2 x 16")
    parser.add_argument("--measure", choices=("full", "chunked"), help=argparse.SUPPRESS)
    parser.add_argument("--audio-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 60.0
    if args.chunk_frames is None:
        args.chunk_frames = 64 if args.quick else 512
    if args.measure:
        measure(args)
        return 0
    torch.set_num_threads(args.threads)
    model = build_model(args.model, args.quick)
    field = receptive_field(model.config)
    print(f"model: {args.model} ({model.num_parameters():,} parameters); receptive field: "
          f"{field.left_frames} frames left, {field.right_frames} right")
    if not args.skip_overlap:
        if args.model == "golden":
            overlaps = [0, 4, (4, 0), (3, 1)] if args.quick else [0, 1, 2, 3, 4, 5, 6, 8, (4, 0), (3, 1)]
            chunks = [8] if args.quick else [8, 32]
        else:
            overlaps = [0, 8, 16, 32, 48, 64, 80, 96, (field.left_frames, field.right_frames)]
            if args.quick:
                overlaps = [0, (field.left_frames, field.right_frames)]
            chunks = [64]
        print("\noverlap table: max |chunked - full| (float32), chunk = kept frames, overlap = context frames per "
              "side or (left, right)")
        print(f"{'chunk':>6} {'overlap':>9} {'max abs error':>14}")
        for row in overlap_table(model, chunks, overlaps, args.overlap_seconds):
            print(f"{row['chunk']:>6} {str(row['overlap']):>9} {row['max_abs_error']:>14.3e}")
    if not args.skip_memory:
        print(f"\nmemory table: {args.seconds:g} s of mel, chunks of {args.chunk_frames} frames with the receptive "
              f"field as overlap, {args.threads} thread(s)")
        print(f"{'mode':>8} {'frames':>7} {'model MB':>9} {'RSS before MB':>14} {'peak above MB':>14} "
              f"{'time s':>8} {'max diff':>10}")
        for row in memory_table(args):
            diff = row.get("max_diff_vs_full")
            print(f"{row['mode']:>8} {row['frames']:>7} {row['model_bytes'] / 2**20:>9.1f} "
                  f"{row['rss_before'] / 2**20:>14.1f} {(row['peak'] - row['rss_before']) / 2**20:>14.1f} "
                  f"{row['seconds']:>8.1f} {'-' if diff is None else f'{diff:.2e}':>10}"
                  f"{'' if row['kernel_hwm'] else '  (polled)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
