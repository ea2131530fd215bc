"""Train the built-in voice on a lent GPU within one device command, from files that travel with the working tree.

The device tool sends the repository (tracked and untracked-not-ignored files, plus up to 8 carried ignored paths,
64 MiB in all) and brings back at most 8 files of 16 MiB from $OUT. So:

  1. here: `python scripts/device_voice.py pack --data ../shared/data/ljspeech-sample`
     copies training clips (never a held-out one) into .device/voice_set/ until the budget left by the tree is used,
     and downloads the wheels the device image lacks (soundfile, librosa and their small dependencies) into
     .device/whl/. Both live under .device/, which .gitignore ignores: carry [".device"].
  2. on the device (one `run` call, carry [".device"], timeout_s 600): the command `python scripts/device_voice.py
     command` prints. It installs the wheels, trains configs/waveglow_small.json in bf16 with a large batch for
     --minutes (SIGINT stops it with a checkpoint), and exports the weight average in fp16 (15 MB) to
     $OUT/voice/ — a training checkpoint with Adam's moments (~120 MB) could not come back.
  3. here: `waveglow evaluate --checkpoint /work/.device/.../voice --data ...`, and continue on the CPU with
     `waveglow train --init-from .../voice`.
`--quick` packs a few clips and prints the command for a few CPU steps (the test suite runs it).
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEVICE_DIR = REPO / ".device"
LIMIT_MIB = 64  # what one device call carries: the tree plus the carried paths
MARGIN_MIB = 4  # headroom for files written before the call (logs, a new checkpoint export)
# The device image has torch, numpy, scipy, numba, scikit-learn, tqdm, safetensors, tensorboard; these it lacks.
WHEELS = ("soundfile", "cffi", "pycparser", "librosa", "audioread", "decorator", "pooch", "platformdirs", "soxr",
          "standard-aifc", "standard-sunau", "audioop-lts")
DEVICE_PYTHON = "3.12"


def tracked_bytes() -> int:
    """Bytes of the files that travel without being carried (tracked + untracked files git does not ignore)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.split(b"\0")
    return sum((REPO / name.decode()).stat().st_size for name in listed if name and (REPO / name.decode()).is_file())


def download_wheels(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform=manylinux_2_{n}_x86_64" for n in (17, 27, 28)] + ["--platform=manylinux2014_x86_64",
                                                                                "--platform=any"]
    for name in WHEELS:
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   f"--python-version={DEVICE_PYTHON}", "--implementation=cp", *platforms, "-d", str(target), name]
        if subprocess.run(command, capture_output=True).returncode != 0:
            print(f"pack: no wheel of {name} for Python {DEVICE_PYTHON} (skipped; only needed on some Pythons)")


def pack(data: Path, out: Path, budget_mib: float | None, max_clips: int | None, wheels: bool) -> dict:
    """Copy non-held-out clips of the LJSpeech-layout `data` into `out` (metadata.csv + wavs/) within the budget."""
    from waveglow_data.ljspeech import read_ljspeech
    from waveglow_data.splits import is_held_out

    if wheels:
        download_wheels(DEVICE_DIR / "whl")
    if out.exists():
        shutil.rmtree(out)
    (out / "wavs").mkdir(parents=True)
    wheel_bytes = sum(p.stat().st_size for p in (DEVICE_DIR / "whl").glob("*.whl")) if wheels else 0
    if budget_mib is None:
        budget_mib = LIMIT_MIB - MARGIN_MIB - (tracked_bytes() + wheel_bytes) / 2**20
    budget = int(budget_mib * 2**20)
    lines, used = [], 0
    for utterance in read_ljspeech(data):
        if is_held_out(utterance.utt_id):
            continue
        size = utterance.audio_path.stat().st_size
        if used + size > budget or (max_clips is not None and len(lines) >= max_clips):
            break
        shutil.copyfile(utterance.audio_path, out / "wavs" / utterance.audio_path.name)
        text = utterance.text or ""
        lines.append(f"{utterance.utt_id}|{utterance.raw_text or text}|{text}")
        used += size
    (out / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cache_f0(out)
    return {"clips": len(lines), "mib": used / 2**20, "budget_mib": budget_mib, "wheels_mib": wheel_bytes / 2**20}


def cache_f0(voice_set: Path) -> None:
    """The pYIN F0 of every packed clip into voice_set/f0 (what the voice's sine excitation is made from), so the
    device's run does not spend its minutes tracking pitch on the CPU; the command copies it into the run."""
    from waveglow_data.dataset import AudioMelDataset
    from waveglow_data.ljspeech import read_ljspeech

    dataset = AudioMelDataset(list(read_ljspeech(voice_set)), excitation=True, f0_cache_dir=voice_set / "f0")
    for utterance in dataset.utterances:
        dataset.clip_f0(utterance, dataset.load_audio(utterance))


def device_command(minutes: float, batch_size: int, data: str, out: str, device: str, precision: str,
                   iterations: int, python: str = "python3", extra: str = "", run: str = "/tmp/voice_run",
                   config: str = "configs/waveglow_small.json", root: str = "$PWD") -> str:
    """The one shell command the device runs (it must end within the call's limit: training stops by SIGINT).

    The device runs the tree uninstalled (PYTHONPATH): links give the folders data/ and demo/ (under `root`) the
    names they install under, waveglow_data and waveglow_demo."""
    train = [python, "-m", "waveglow.cli", "train", "--config", config, "--data", data, "--out", run, "--device", device, "--precision", precision, "--batch-size",
             str(batch_size), "--iterations", str(iterations), "--eval-every", "1000000", "--checkpoint-every",
             "1000000", "--no-progress", *shlex.split(extra)]
    export = f"{python} -m waveglow.cli convert {run} {out}/voice --dtype fp16"  # $OUT expands there
    links = f"{run}-packages"
    install = (f"rm -rf {run} {links}; (ls .device/whl/*.whl >/dev/null 2>&1 && {python} -m pip install -q --no-index "
               "--no-deps --no-compile --target /tmp/site .device/whl/*.whl); "
               f"mkdir -p {links} && ln -s {root}/data {links}/waveglow_data && "
               f"ln -s {root}/demo {links}/waveglow_demo; "
               f"export PYTHONPATH=/tmp/site:{links}:$PWD")
    f0 = f"mkdir -p {run} && (cp -r {data}/f0 {run}/f0 2>/dev/null || true)"  # the packed pitch, if any
    return (f"{install}; {f0}; timeout -s INT {int(minutes * 60)} {shlex.join(train)}; "
            f"{export} && cp {run}/metrics.jsonl {out}/voice/metrics.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("pack", help="copy a training set and wheels into .device/ (carry it)")
    p.add_argument("--data", required=True, help="LJSpeech-layout folder (the held-out split is never copied)")
    p.add_argument("--out", default=str(DEVICE_DIR / "voice_set"))
    p.add_argument("--budget-mib", type=float, help="MiB of audio (default: what the tree leaves of 64 MiB)")
    p.add_argument("--no-wheels", action="store_true", help="do not download the device's missing wheels")
    p.add_argument("--quick", action="store_true", help="4 clips, no wheels (a smoke test)")
    c = sub.add_parser("command", help="print the device command")
    c.add_argument("--minutes", type=float, default=8.0, help="training time (the call's limit is 10 minutes)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--train-args", default="", help="more `waveglow train` flags, e.g. '--spectral-loss 1'")
    c.add_argument("--quick", action="store_true", help="a few CPU steps into ./out (a smoke test)")
    args = parser.parse_args(argv)
    if args.action == "pack":
        summary = pack(Path(args.data), Path(args.out), args.budget_mib, 4 if args.quick else None,
                       wheels=not (args.no_wheels or args.quick))
        print(f"packed {summary['clips']} clips, {summary['mib']:.1f} MiB of {summary['budget_mib']:.1f} MiB "
              f"(+ {summary['wheels_mib']:.1f} MiB of wheels) into {args.out}")
        return 0
    if args.quick:
        print(device_command(2.0, 2, str(DEVICE_DIR / "voice_set"), "out", "cpu", "fp32", 2, sys.executable,
                             args.train_args, run="voice_run", config=str(REPO / "configs" / "waveglow_small.json"),
                             root=shlex.quote(str(REPO))))
    else:
        print(device_command(args.minutes, args.batch_size, ".device/voice_set", "$OUT", "cuda", "bf16", 10**7,
                             extra=args.train_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
