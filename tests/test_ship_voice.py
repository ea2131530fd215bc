"""scripts/ship_voice.py: a training run becomes the package's built-in voice (fp16 weights, config, summary,
evaluation), replacing the previous one only once the new one is complete."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from waveglow.cli import main as cli
from waveglow.vocoder.model import load_waveglow
from waveglow.vocoder.loading import load_for_scoring
from waveglow_data.splits import is_held_out
from waveglow.vocoder.inference import default_vocoder_path

REPO = Path(__file__).resolve().parents[1]
LJ = Path(__file__).parent / "fixtures" / "ljspeech"
SHIPPED_FILES = {"config.json", "model.safetensors", "training_config.json", "training_summary.json",
                 "evaluation.json", "README.md"}
TINY_RUN = {
    "model": {"n_flows": 2, "n_group": 8, "n_early_every": 4, "n_early_size": 2,
              "WN_config": {"n_layers": 2, "n_channels": 8, "kernel_size": 3}, "upsample_kernel_size": 256},
    "train": {"iterations": 2, "lr": 1e-3, "batch_size": 2, "segment_length": 2048, "seed": 3,
              "checkpoint_every": 2, "eval_every": 1000, "log_every": 1, "ema_decay": 0.5},
    "data": {"eval_max_seconds": 5, "eval_audio_samples": 0},
}


def ship_voice_main():
    spec = importlib.util.spec_from_file_location("ship_voice", REPO / "scripts" / "ship_voice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_ship_voice_packages_a_run_as_the_default_voice(tmp_path, one_thread):
    config, run = tmp_path / "tiny.json", tmp_path / "run"
    config.write_text(json.dumps(TINY_RUN))
    assert cli(["train", "--config", str(config), "--data", str(LJ), "--out", str(run), "--threads", "1",
                "--no-progress"]) == 0
    trained = load_for_scoring(run).model.state_dict()  # the run's weight average, which is what ships
    raw = load_for_scoring(run, raw=True).model.state_dict()
    assert not all(torch.equal(t, raw[k]) for k, t in trained.items())
    # vocode / tts read a run directly too: the run directory, its checkpoints/ folder or one ckpt file
    for source in (run, run / "checkpoints", run / "checkpoints" / "ckpt_2.pt"):
        model, info = load_waveglow(source)
        assert info.source_format == "training" and info.extra["iteration"] == 2
        assert all(torch.equal(t, trained[k]) for k, t in model.state_dict().items())

    assets = tmp_path / "assets"
    out = assets / "waveglow_default"
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")  # a previous voice, replaced only once the new one is complete

    assert ship_voice_main()(["--run", str(run), "--data", str(LJ), "--out", str(out), "--no-wer",
                              "--max-utterances", "1", "--griffin-lim-iters", "4"]) == 0

    assert {p.name for p in out.iterdir()} == SHIPPED_FILES
    assert [p.name for p in assets.iterdir()] == ["waveglow_default"]  # no staging or previous copy left
    assert default_vocoder_path(assets) == out
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    shipped, _ = load_waveglow(out)
    for name, tensor in shipped.state_dict().items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, trained[name].half().float()), name
    results = json.loads((out / "evaluation.json").read_text())
    assert results["n_utterances"] == 1 and all(is_held_out(u["utt_id"]) for u in results["utterances"])
    assert "stored as fp16" in results["checkpoint"]
    assert all(math.isfinite(results["summary"][row]["stoi"]) for row in ("waveglow", "griffin_lim", "real"))
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["iterations"] == 2 and summary["audio_samples_seen"] == 2 * 2 * 2048
    assert summary["weights"] == results["weights"] == "average"
    readme = (out / "README.md").read_text()
    assert "| WaveGlow |" in readme and "| Griffin-Lim |" in readme and "2 iterations" in readme
    assert json.loads((out / "training_config.json").read_text())["model"]["n_flows"] == 2


def test_ship_voice_refuses_an_exported_model_and_keeps_the_previous_voice(tmp_path, one_thread):
    from waveglow.vocoder.config import WaveGlowConfig
    from waveglow.vocoder.model import WaveGlow

    exported = tmp_path / "exported"
    WaveGlow(WaveGlowConfig.from_dict(TINY_RUN["model"])).save_pretrained(exported)
    out = tmp_path / "assets" / "waveglow_default"
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match="expected a training run directory"):
        ship_voice_main()(["--run", str(exported), "--data", str(LJ), "--out", str(out), "--no-wer"])
    assert [p.name for p in out.iterdir()] == ["config.json"] and (out / "config.json").read_text() == "{}"

