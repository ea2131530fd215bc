"""Every script in benchmarks/ and scripts/ runs in its --quick mode (same code, tiny sizes) and prints its table.

The runs go through the session's Workspace (tests/quick_runs.py), so a quick line that a documented command
shares (test_documented_commands.py) runs once.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from quick_runs import (ADAM, DIGITS, FESTIVAL_WER, HAVE_FESTIVAL, LATENT, ONNX_BENCH, REPO, SHIP_VOICE, TRAIN_STEP,
                        VOICE_AB, have_module)

# Files of benchmarks/ and scripts/ that have no quick mode, and why. Every other file needs a test below.
NOT_RUN = {
    "benchmarks/reference_waveglow.py": "a module, not a script: the baseline imported by vocoder_speed.py "
                                        "(its rows are checked against ours in test_vocoder_speed_quick)",
    "scripts/setup.sh": "the installer (apt-get, pip into .venv): it is what CI runs before the tests",
}
TESTED = {
    "benchmarks/glow_digits.py": "test_glow_digits_quick",
    "benchmarks/vocoder_speed.py": "test_vocoder_speed_quick",
    "benchmarks/train_throughput.py": "test_train_throughput_quick",
    "benchmarks/vocode_long_form.py": "test_vocode_long_form_quick",
    "benchmarks/latent_calibration.py": "test_latent_calibration_quick",
    "benchmarks/festival_wer.py": "test_festival_wer_quick",
    "scripts/ship_voice.py": "test_ship_voice_quick",
    "benchmarks/voice_ab.py": "test_voice_ab_quick",
    "scripts/device_voice.py": "test_device_voice_quick",
    "benchmarks/onnx_vs_torch.py": "test_onnx_vs_torch_quick",
}


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown table rows of `text` whose first cell is `first_cell`."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [r for r in rows if r[0] == first_cell]


def run(workspace, line: str) -> str:
    status, out = workspace.run(line)
    assert status == 0, f"{line} exited with {status}:\n{out}"
    return out


def test_every_script_has_a_quick_test_or_a_reason():
    files = {str(p.relative_to(REPO)) for d in ("benchmarks", "scripts") for p in (REPO / d).iterdir()
             if p.suffix in (".py", ".sh")}
    assert files == set(TESTED) | set(NOT_RUN), "a script without a quick test (add one) or a stale entry"
    assert set(TESTED.values()) <= set(globals()), "a listed test does not exist"
    for path in TESTED:
        assert "--quick" in (REPO / path).read_text(), f"{path} has no --quick mode"


def test_glow_digits_quick(quick_workspace):
    pytest.importorskip("sklearn")
    out = run(quick_workspace, DIGITS)
    tmp = Path(quick_workspace.value("tmp"))
    assert "| permutation | additive | affine |" in out
    for permutation in ("reverse", "conv1x1"):
        (cells,) = table_rows(out, permutation)
        assert all(re.fullmatch(r"\d\.\d{3} ± 0\.000 \(best \d\.\d{3}\)", c) for c in cells[1:]), cells
    results = json.loads((tmp / "digits" / "glow_digits_results_quick.json").read_text())
    assert len(results["runs"]) == 4 and len(results["shallow_runs"]) == 1
    uniform = results["baselines"]["uniform (log2 17)"]
    assert all(math.isfinite(r["test_bpd"]) and r["test_bpd"] < uniform for r in results["runs"])
    assert (tmp / "digits" / "digits_samples_t0.7_quick.png").stat().st_size > 0
    assert (tmp / "digits_best" / "model.safetensors").is_file()


def test_vocoder_speed_quick(quick_workspace):
    out = run(quick_workspace, "python benchmarks/vocoder_speed.py --quick --golden --threads 1")
    rows = [line.strip("|").split("|") for line in out.splitlines() if re.match(r"\| [\d.]+ s \|", line)]
    names = [(r[0].strip(), r[1].strip()) for r in rows]
    assert names[:5] == [("0.05 s", n) for n in ("reference fp32", "ours fp32", "ours bf16", "ours fp32 untiled",
                                                 "ours bf16 untiled")]
    assert ("0.2 s", "ours fp32 chunked") in names and ("0.2 s", "ours bf16 chunked") in names
    for r in rows:
        assert float(r[7]) < (1e-5 if "fp32" in r[1] else 5e-2), r  # ours vs the NVIDIA-structured reference
    assert [r[6].strip() != "-" for r in rows if r[1].strip() == "reference fp32"] == [True, True]  # peak memory
    assert float(re.search(r"golden-parity weights and mel: ([\d.]+) dB", out).group(1)) > 40


def test_train_throughput_quick(quick_workspace):
    out = run(quick_workspace, TRAIN_STEP)
    rows = [line.split() for line in out.splitlines() if line.startswith("small ")]
    assert [(r[2], r[3]) for r in rows] == [("yes", "fp32"), ("yes", "bf16")], out
    assert all(float(r[6]) > 0 for r in rows)
    out = run(quick_workspace, ADAM)
    assert all(len(table_rows(out, k)) == 1 for k in ("per-tensor", "foreach", "fused")), out
    assert "weight average update" in out


def test_vocode_long_form_quick(quick_workspace):
    out = run(quick_workspace, "python benchmarks/vocode_long_form.py --quick")
    overlap = {tuple(line.split()[:2]): float(line.split()[-1]) for line in out.splitlines()
               if re.match(r"\s+8\s", line)}
    assert overlap[("8", "4")] < 1e-5 < overlap[("8", "0")], out  # the receptive field as context: exact
    memory = {line.split()[0]: line.split() for line in out.splitlines() if re.match(r"\s+(full|chunked) ", line)}
    assert set(memory) == {"full", "chunked"} and float(memory["chunked"][6]) < 1e-5, out


def test_onnx_vs_torch_quick(quick_workspace):
    out = run(quick_workspace, ONNX_BENCH)
    assert "CPU: " in out and "torch CPU capability" in out
    for config in ("official", "small"):
        rows = table_rows(out, config)
        assert [r[2] for r in rows] == ["torch", "onnxruntime"], out
        assert all(float(r[3]) > 0 for r in rows) and float(rows[1][6]) <= 1e-4, rows  # RTF; onnx vs torch


def test_latent_calibration_quick(quick_workspace):
    out = run(quick_workspace, LATENT)
    rows = [line.strip("|").split("|") for line in out.splitlines() if line.startswith("| LJ")]
    assert len(rows) == 1, out
    assert 0 < float(rows[0][1]) < 10 and float(rows[0][3]) < 1e-3  # z RMS, inverse error


@pytest.mark.skipif(not (HAVE_FESTIVAL and have_module("pocketsphinx")), reason="needs festival and pocketsphinx")
def test_festival_wer_quick(quick_workspace):
    out = run(quick_workspace, FESTIVAL_WER)
    rows = {m.group(1): m.groups()[1:] for m in
            re.finditer(r"^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)%\s+([\d.]+)$", out, re.M)}
    assert len(rows) == 8, out  # Festival, -> Griffin-Lim, -> 2 WaveGlows; recording, -> Griffin-Lim, -> 2 WaveGlows
    assert all(r[0] == "1" and int(r[1]) > 0 for r in rows.values()), out
    assert float(rows["Festival audio (upper bound)"][3]) < 100, out


def test_ship_voice_quick(quick_workspace):
    assert "| WaveGlow |" in run(quick_workspace, SHIP_VOICE)
    results = json.loads((Path(quick_workspace.value("tmp")) / "voice" / "evaluation.json").read_text())
    assert results["n_utterances"] == 1 and results["settings"]["griffin_lim_iters"] == 4
    assert all(results["summary"][row].get("wer") is None for row in ("waveglow", "griffin_lim", "real"))  # no WER


def test_voice_ab_quick(quick_workspace):
    out = run(quick_workspace, VOICE_AB)
    (row,) = table_rows(out, "run")
    assert row[3] == "2" and re.fullmatch(r"-?\d+\.\d{3}", row[-1]), row  # the tiny run's last step, bits/sample
    for title in ("Griffin-Lim", "recordings", "random-phase floor"):
        assert len(table_rows(out, title)) == 1, out
    results = json.loads((Path(quick_workspace.value("tmp")) / "voice_ab.json").read_text())
    assert [r["iteration"] for r in results["rows"]] == [2] and results["references"]["real"]["vuv_error"] == 0.0


def test_device_voice_quick(tmp_path):
    """scripts/device_voice.py: the carried training set holds no held-out clip; the device command, run here in
    its quick form (CPU, 2 steps), leaves an fp16 export and the run's metrics under the output folder."""
    import subprocess
    import sys

    from waveglow_data.ljspeech import read_ljspeech
    from waveglow_data.splits import is_held_out
    from waveglow.vocoder.model import load_waveglow

    script = Path(__file__).resolve().parents[1] / "scripts" / "device_voice.py"
    fixtures = Path(__file__).parent / "fixtures" / "ljspeech"
    packed = tmp_path / "set"
    subprocess.run([sys.executable, str(script), "pack", "--data", str(fixtures), "--out", str(packed), "--quick"],
                   check=True, capture_output=True)
    clips = read_ljspeech(packed)
    assert clips and not any(is_held_out(u.utt_id) for u in clips)
    # the voice's pitch travels with the set, one F0 track per clip
    assert sorted(p.name for p in (packed / "f0").iterdir()) == sorted(f"{u.utt_id}.f0.npy" for u in clips)
    assert any(is_held_out(u.utt_id) for u in read_ljspeech(fixtures))  # the fixture does hold some
    command = subprocess.run([sys.executable, str(script), "command", "--quick"], check=True, capture_output=True,
                             text=True).stdout.strip()
    command = command.replace(str(Path(script).parents[1] / ".device" / "voice_set"), str(packed))
    (tmp_path / "out").mkdir()
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, capture_output=True)
    exported, _ = load_waveglow(tmp_path / "out" / "voice")
    assert exported.config.n_group == 64 and (tmp_path / "out" / "voice" / "metrics.jsonl").is_file()


def test_voice_ab_picks_checkpoints_at_equal_cpu_minutes(tmp_path):
    """--at-cpu-minutes: per arm the checkpoints whose logged CPU minutes are nearest the budgets (summed over the
    run's processes, each at its last line before the checkpoint was written)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("voice_ab", Path(__file__).resolve().parents[1] / "benchmarks" /
                                                  "voice_ab.py")
    voice_ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(voice_ab)
    run = tmp_path / "arm"
    log = tmp_path / "cpu.log"
    log.write_text(f"100 1 {run} 60\n200 1 {run} 600\n200 2 {run} 120\n300 2 {tmp_path / 'other'} 9000\n")
    assert voice_ab.cpu_minutes(log, run, 150) == 1.0
    assert voice_ab.cpu_minutes(log, run, 250) == 12.0  # both processes of the run
    assert voice_ab.cpu_minutes(log, run, 50) is None
    spent = {500: 5.0, 1000: 11.0, 1500: 22.0, 2000: None}
    assert voice_ab.nearest(spent, [10, 21]) == [1000, 1500]
    assert voice_ab.nearest(spent, [100]) == [1500] and voice_ab.nearest({1: None}, [1]) == []
