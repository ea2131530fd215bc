"""Package a trained run as the toolkit's built-in voice (waveglow/assets/waveglow_default by default).

    python scripts/ship_voice.py --run RUN_DIR --data ../shared/data/ljspeech-sample
    python scripts/ship_voice.py --run RUN_DIR --data DATA --out /tmp/voice --quick   # smoke run: 1 clip, no WER

Writes, into a temporary directory renamed into place at the end:
  config.json + model.safetensors   the run's latest checkpoint (its weight average when the run keeps one), weight
                                    norm folded, stored as fp16 (or --dtype)
  training_config.json              the run's training config (model / train / data sections)
  training_summary.json             iterations, wall-clock, samples seen, held-out bits/sample, machine
  evaluation.json                   `waveglow evaluate` on the held-out split, run on the stored (fp16) weights
  README.md                         the summary and the evaluation table in words
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from waveglow.vocoder.config import DEFAULT_SIGMA  # noqa: E402


def training_summary(run: Path, loaded) -> dict:
    """What the run did, from its metrics.jsonl (train and eval records) and its config."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("kind") == "train" and r["iteration"] <= loaded.iteration]
    evals = [r for r in records if r.get("kind") == "eval" and r["iteration"] <= loaded.iteration]
    config = json.loads((run / "config.json").read_text())
    lineage = _lineage(run)
    samples_per_step = config["train"]["batch_size"] * config["train"]["segment_length"]
    return {
        "iterations": loaded.iteration,
        "training_hours": round(max((r["elapsed_s"] for r in train), default=0.0) / 3600, 2),
        "audio_samples_seen": loaded.iteration * samples_per_step,
        "audio_hours_seen": loaded.iteration * samples_per_step / loaded.model.config.sampling_rate / 3600,
        "train_bits_per_sample_last_10_logs": (sum(r["bits_per_sample"] for r in train[-10:]) / len(train[-10:])
                                               if train else None),
        "weights": loaded.weights,  # "average": the run's moving average of the weights (train.ema_decay)
        "held_out_bits_per_sample_history": [(r["iteration"], round(r["bits_per_sample"], 4)) for r in evals],
        "held_out_bits_per_sample_history_average": [(r["iteration"], round(r["ema_bits_per_sample"], 4))
                                                     for r in evals if "ema_bits_per_sample" in r],
        "data": "LJSpeech sample (390 clips, 42 min) minus the held-out split (LJ050-*, LJ002-0181..0200)",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"torch {__import__('torch').__version__}",
        **lineage,
    }


def _lineage(run: Path) -> dict:
    """A run started with --init-from: what it started from, and that voice's own summary (its earlier training)."""
    record = run / "init_from.json"
    if not record.is_file():
        return {}
    start = json.loads(record.read_text())
    earlier = Path(start["source"]) / "training_summary.json"
    return {"initialised_from": start,
            "earlier_training": json.loads(earlier.read_text()) if earlier.is_file() else None}


def readme(summary: dict, results: dict, table: str, parameters: int, size_mb: float, dtype: str,
           built_in: bool = True) -> str:
    start = summary.get("initialised_from")
    where = ("its exported weights" if start and start.get("iteration") is None else
             f"iteration {start['iteration']}, {start['weights']} weights" if start else "")
    lineage = (f"\nIt continued from {start['source']} ({where}) with `waveglow train --init-from`.\n" if start else "")
    use = ("`waveglow vocode`, `waveglow tts` and the demo use this voice when no --checkpoint is given." if built_in
           else "Not the default voice: training sessions continue from it with `waveglow train --init-from` and "
                "ship it with scripts/ship_voice.py once it meets the bar in the README.")
    title = "The built-in WaveGlow voice" if built_in else "The WaveGlow voice in training"
    return f"""# {title}

A small WaveGlow (see config.json: {parameters:,} parameters, {size_mb:.1f} MB stored as {dtype}) trained on
{summary['data']}, on CPU: {summary['iterations']:,} iterations, {summary['training_hours']} h,
{summary['audio_hours_seen']:.1f} h of audio segments seen. Machine: {summary['machine']}.
Training config: training_config.json; history: training_summary.json.{lineage}

Copy-synthesis on the {results['n_utterances']} held-out clips ({results['seconds']:.0f} s), sigma
{results['settings']['sigma']}, scored on these stored weights (`waveglow evaluate`, evaluation.json):

{table}

{use}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="training run directory (its latest checkpoint is shipped)")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory (held-out clips are evaluated)")
    parser.add_argument("--out", default=str(ROOT / "waveglow" / "assets" / "waveglow_default"),
                        help="where to store it (default: the built-in voice; voices/in_training for the voice in "
                             "training, which sessions continue with `waveglow train --init-from`)")
    parser.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="fp16")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA)
    parser.add_argument("--envelope-iterations", type=int, metavar="N",
                        help="store the voice with N mel-envelope projections at inference "
                             "(model.envelope_iterations; "
                             "default: the run's own)")
    parser.add_argument("--no-wer", action="store_true", help="skip the PocketSphinx word error rate")
    parser.add_argument("--max-utterances", type=int, default=None, help="evaluate at most this many held-out clips")
    parser.add_argument("--griffin-lim-iters", type=int, default=None,
                        help="Griffin-Lim baseline iterations (default 60; --quick 4)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (seconds): one held-out clip, no WER, 4 Griffin-Lim iterations")
    args = parser.parse_args(argv)
    if args.quick:
        args.no_wer = True
        args.max_utterances = args.max_utterances or 1
    if args.griffin_lim_iters is None:
        args.griffin_lim_iters = 4 if args.quick else 60

    from waveglow.commands.evaluate import held_out_utterances
    from waveglow.evaluation.runner import EvaluationSettings, evaluate, markdown_table
    from waveglow.vocoder.loading import load_for_scoring

    run, out = Path(args.run), Path(args.out)
    loaded = load_for_scoring(run)
    if loaded.kind != "training":
        sys.exit(f"{run}: expected a training run directory, got a {loaded.kind} checkpoint")
    if args.envelope_iterations is not None:
        loaded.model = loaded.model.with_config(envelope_iterations=args.envelope_iterations)
    summary = training_summary(run, loaded)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".shipping-", dir=out.parent))
    umask = os.umask(0)  # mkdtemp makes the folder 0700: give it the mode any new folder gets
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    previous = out.parent / f".previous-{out.name}"
    try:
        loaded.model.save_pretrained(staging, dtype=args.dtype, mel=loaded.mel_config())
        shutil.copyfile(run / "config.json", staging / "training_config.json")
        stored = load_for_scoring(staging)  # evaluate what ships: the reduced-precision weights
        stored.train_sigma, stored.data_config, stored.iteration = loaded.train_sigma, loaded.data_config, loaded.iteration
        settings = EvaluationSettings(sigma=args.sigma, wer=not args.no_wer, griffin_lim_iters=args.griffin_lim_iters)
        results = evaluate(stored, held_out_utterances(args.data, args.max_utterances), settings)
        results["checkpoint"] = f"{loaded.source} (stored as {args.dtype})"
        results["weights"] = loaded.weights
        (staging / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
        (staging / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        size_mb = (staging / "model.safetensors").stat().st_size / 1e6
        table = markdown_table(results)
        built_in = out.resolve() == (ROOT / "waveglow" / "assets" / "waveglow_default").resolve()
        (staging / "README.md").write_text(readme(summary, results, table, stored.model.num_parameters(), size_mb,
                                                  args.dtype, built_in))
        # Swap by renames: at every moment `out` is either the old voice or the complete new one.
        if previous.exists():
            shutil.rmtree(previous)
        if out.exists():
            out.rename(previous)
        try:
            staging.rename(out)
        except OSError:
            if previous.exists():
                previous.rename(out)  # put the old voice back before giving up
            raise
    finally:
        for leftover in (staging, previous):
            if leftover.exists():
                shutil.rmtree(leftover)
    print(table)
    print(f"\nshipped {loaded.source} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
