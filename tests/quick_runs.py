"""Helpers for running the repository's scripts and commands in-process in their quick forms (tests only).

* `run_script(path, argv)`: loads benchmarks/X.py or scripts/X.py as a fresh module and calls its `main(argv)`,
  restoring torch's thread count and sys.argv afterwards (the scripts set their own).
* `Workspace`: generated fixtures (a 2-iteration tiny training run, ...) and cached in-process runs.
* `tiny_nvidia_checkpoint(path)`: a tiny 80-mel WaveGlow in NVIDIA/waveglow's pickled train.py layout, standing in
  for NVIDIA's released waveglow_256channels_universal_v5.pt.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LJ = REPO / "tests" / "fixtures" / "ljspeech"
TINY_RUN_CONFIG = {
    "model": {"n_flows": 2, "n_group": 8, "n_early_every": 4, "n_early_size": 2,
              "WN_config": {"n_layers": 2, "n_channels": 8, "kernel_size": 3}, "upsample_kernel_size": 256},
    "train": {"iterations": 2, "lr": 1e-3, "batch_size": 2, "segment_length": 2048, "seed": 3,
              "checkpoint_every": 2, "eval_every": 1000, "log_every": 1, "ema_decay": 0.5},
    "data": {"eval_max_seconds": 2, "eval_audio_samples": 0},
}
HAVE_FESTIVAL = shutil.which("text2wave") is not None


def have_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def run_script(path: str | Path, argv: list[str]) -> int:
    """`main(argv)` of a repository script, loaded fresh from its file (relative paths are from the repo root)."""
    path = REPO / path
    name = "quick_" + "_".join(path.relative_to(REPO).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    threads, saved_argv = torch.get_num_threads(), sys.argv
    sys.argv = [str(path), *argv]
    try:
        spec.loader.exec_module(module)
        return module.main(argv)
    finally:
        sys.argv = saved_argv
        torch.set_num_threads(threads)


def write_tiny_config(path: Path, **train) -> Path:
    config = json.loads(json.dumps(TINY_RUN_CONFIG))
    config["train"].update(train)
    path.write_text(json.dumps(config))
    return path


def tiny_nvidia_checkpoint(path: Path, seed: int = 0) -> Path:
    """An 80-mel WaveGlow (4 flows, WN 2 x 16) pickled the way NVIDIA's train.py saves, with non-trivial weights."""
    from nvidia_layout import save_nvidia_pickle
    from waveglow.vocoder.config import WaveGlowConfig
    from waveglow.vocoder.model import WaveGlow

    torch.manual_seed(seed)
    model = WaveGlow(WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2,
                                    n_channels=16)).eval()
    with torch.no_grad():
        for coupling in model.couplings:  # NVIDIA zero-inits `end`: make every coupling act
            coupling.net.end.weight.normal_(0, 0.02)
            coupling.net.end.bias.normal_(0, 0.02)
    save_nvidia_pickle(model, path)
    return path


class Workspace:
    """One temporary folder of generated fixtures and a cache of in-process command runs, shared by the tests.

    `run(template)` formats {names} (built on first use by the method `make_<name>`), splits the command like a
    shell and runs it in-process: `waveglow ...` through waveglow.cli.main, `python benchmarks/X.py ...` /
    `python scripts/X.py ...` through the script's main(argv), `python -m M ...` through M.main(argv).
    The same command line runs once; later calls get its (exit status, stdout).
    """

    def __init__(self, root: Path):
        self.root, self.done, self.values = root, {}, {}

    # ---- fixtures -----------------------------------------------------------------------------------------------
    def value(self, name: str) -> str:
        if name not in self.values:
            if name.startswith("runcopy"):  # a fresh copy of the tiny run, e.g. for --resume
                shutil.copytree(self.value("run"), self.root / name)
                self.values[name] = str(self.root / name)
            else:
                self.values[name] = str(getattr(self, f"make_{name}")())
        return self.values[name]

    def make_tmp(self):
        return self.root

    def make_lj(self):
        return LJ

    def make_tinycfg(self):
        return write_tiny_config(self.root / "tiny_config.json")

    def make_run(self):
        out = self.root / "run"
        rc, _ = self.run("waveglow train --config {tinycfg} --data {lj} --out " + str(out) + " --threads 1 "
                         "--no-progress")
        assert rc == 0
        return out

    def make_nvidia(self):
        return tiny_nvidia_checkpoint(self.root / "waveglow_256channels_universal_v5.pt")

    def make_taco(self):
        return REPO / "tests" / "fixtures" / "golden" / "tacotron2_nvidia_train_style.pt"

    def make_mels(self):
        """mels/ with one mel, plus list.txt naming another and x.npy: the inputs of the README's vocode line."""
        import numpy as np

        rng = np.random.default_rng(0)
        mels = self.root / "mels"
        mels.mkdir()
        for path in (mels / "a.npy", self.root / "b.npy", self.root / "x.npy"):
            np.save(path, (rng.standard_normal((80, 12)) - 6).astype(np.float32))
        (self.root / "list.txt").write_text(str(self.root / "b.npy") + "\n")
        return mels

    def make_onnx(self):
        """The tiny NVIDIA-layout WaveGlow exported by `waveglow export --onnx` (the README's export line)."""
        rc, _ = self.run(ONNX_EXPORT)
        assert rc == 0
        return self.root / "model.onnx"

    def make_phrases(self):
        path = self.root / "phrases.txt"
        path.write_text("Hello there.\n\nGood bye.\n", encoding="utf-8")
        return path

    def make_transcripts(self):
        """The fixture transcripts plus one sentence without a recording (eligible for tts.festival_corpus)."""
        path = self.root / "transcripts.csv"
        path.write_text((LJ / "metadata.csv").read_text().rstrip("\n") + "\nLJ003-0001|Hello there.|Hello there.\n")
        return path

    def make_digits(self):
        out = self.root / "digits_glow"
        rc, _ = self.run("waveglow glow train --data digits -L 2 -K 1 --hidden 8 --steps 2 --batch-size 16 "
                         "--max-train 64 --max-test 16 --log-every 1 --out " + str(out))
        assert rc == 0
        return out

    def make_fashion(self):
        out = self.root / "fashion_glow"
        rc, _ = self.run("waveglow glow train --data fashion-mnist -L 2 -K 1 --hidden 8 --conditional "
                         "--class-weight 0.01 --steps 2 --batch-size 8 --max-train 64 --max-test 16 --log-every 1 "
                         "--out " + str(out))
        assert rc == 0
        return out

    # ---- running ------------------------------------------------------------------------------------------------
    def format(self, template: str) -> list[str]:
        import re
        import shlex

        text = re.sub(r"\{(\w+)\}", lambda m: self.value(m.group(1)), template)
        return shlex.split(text)

    def run(self, template: str) -> tuple[int, str]:
        import contextlib
        import importlib
        import io

        argv = self.format(template)
        key = tuple(argv)
        if key not in self.done:
            out, threads = io.StringIO(), torch.get_num_threads()
            try:
                with contextlib.redirect_stdout(out), _exit_status() as status:
                    if argv[0] == "waveglow":
                        from waveglow.cli import main

                        rc = main(argv[1:])
                    elif argv[:2] == ["python", "-m"]:
                        rc = importlib.import_module(argv[2]).main(argv[3:])
                    elif argv[0] == "python":
                        rc = run_script(argv[1], argv[2:])
                    else:
                        raise ValueError(f"cannot run {argv[0]} in-process")
                    status.append(rc)
            finally:
                torch.set_num_threads(threads)
            rc = status[-1]
            self.done[key] = (rc, out.getvalue())
        return self.done[key]


class _exit_status:
    """Collects the exit status: the value appended inside, or a SystemExit's code (argparse errors, sys.exit)."""

    def __enter__(self):
        self.status = []
        return self.status

    def __exit__(self, kind, exc, tb):
        if kind is SystemExit:
            code = exc.code
            self.status.append(code if isinstance(code, int) else (0 if code is None else 1))
            if not isinstance(code, (int, type(None))):
                print(code, file=sys.stderr)
            return True
        return False


# Quick command lines shared by test_benchmarks_quick.py and test_documented_commands.py (the Workspace runs each
# once per session). {name}: Workspace fixtures.
DIGITS = "python benchmarks/glow_digits.py --quick --out-dir {tmp}/digits --save-best {tmp}/digits_best"
FESTIVAL_WER = ("python benchmarks/festival_wer.py --quick --checkpoint {run} {run}/checkpoints/ckpt_2.pt "
                "--ids LJ050-0030 --transcripts {lj}/metadata.csv --wavs-dir {lj}/wavs")
LATENT = "python benchmarks/latent_calibration.py --checkpoint {run} --data {lj} --quick --threads 1"
SHIP_VOICE = "python scripts/ship_voice.py --run {run} --data {lj} --out {tmp}/voice --quick"
ADAM = "python benchmarks/train_throughput.py --configs small --threads 1 --adam-only --quick"
TRAIN_STEP = ("python benchmarks/train_throughput.py --configs small --batch 1 --segment 2048 --precisions fp32 bf16 "
              "--steps 1 --threads 1 --memory-efficient-only --quick")
ONNX_EXPORT = "waveglow export {nvidia} --onnx {tmp}/model.onnx --opset 17 --tolerance 1e-4"
ONNX_BENCH = "python benchmarks/onnx_vs_torch.py --quick --threads 1"
VOICE_AB = ("python benchmarks/voice_ab.py --runs {run} --data {lj} --quick --clips 1 --cpu-log {tmp}/cpu.log "
            "--out {tmp}/voice_ab.json")
