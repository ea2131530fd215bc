"""The built-in voice's A/B table: every arm's checkpoints scored on held-out clips, against minutes of training.

    python benchmarks/voice_ab.py --runs runs/ab/a_likelihood runs/ab/b_mrstft --data ljspeech-sample \
        [--clips 8] [--points 4 | --at-cpu-minutes 30 60] [--wer] [--cpu-log runs/ab/cpu.log] [--out ab.json]

For each run (an arm), `--points` of its checkpoints evenly spread over the run (the last always included) are
scored with `waveglow evaluate`'s runner on the first `--clips` held-out clips: DNSMOS P.808 and OVRL, F0 RMSE,
V/UV error, MR-STFT distance (full band and 0-8 kHz), PESQ, WER (with --wer) and held-out bits/sample, on the
weights the run exports (its moving average when kept). Minutes are the run's own wall-clock of training; with
--cpu-log (lines `unix_time pid run_dir cpu_seconds`, written while the arms ran) also the CPU minutes its process
had used when the checkpoint was written, the fair budget when arms shared cores with other work. The reference
rows (Griffin-Lim, recordings, the random-phase floor) come from the same clips.
`--quick`: one clip, one point, no WER (a smoke test of the same path).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COLUMNS = (("dnsmos_p808", "P.808", 2, 1.0), ("dnsmos_ovrl", "OVRL", 2, 1.0), ("f0_rmse_cents", "F0 RMSE c", 0, 1.0),
           ("vuv_error", "V/UV", 3, 1.0), ("mrstft", "MR-STFT", 3, 1.0), ("mrstft_0_8k", "MR-STFT 0-8k", 3, 1.0),
           ("pesq", "PESQ", 2, 1.0), ("wer", "WER %", 1, 100.0), ("bits_per_sample", "bits/sample", 3, 1.0))
REFERENCE_ROWS = (("griffin_lim", "Griffin-Lim"), ("real", "recordings"), ("floor", "random-phase floor"))


def spread(items: list, points: int) -> list:
    """`points` items evenly spread over `items`, the last always included."""
    if points >= len(items):
        return list(items)
    step = (len(items) - 1) / (points - 1) if points > 1 else 0
    picked = {round(len(items) - 1 - i * step) for i in range(points)}
    return [items[i] for i in sorted(picked)]


def cpu_minutes(log: Path | None, run: Path, when: float) -> float | None:
    """CPU minutes the run's processes had used by unix time `when` (a resumed run has several, one after the
    other): per process its last logged value before `when`, summed."""
    if log is None or not log.is_file():
        return None
    last: dict[str, float] = {}
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and Path(parts[2]).resolve() == run.resolve() and float(parts[0]) <= when:
            if float(parts[3]) > 0:
                last[parts[1]] = float(parts[3])
    return sum(last.values()) / 60 if last else None


def nearest(spent: dict[int, float | None], minutes: list[float]) -> list[int]:
    """Iterations (keys of `spent`: iteration -> CPU minutes, None when unknown) nearest each of `minutes`."""
    known = [i for i, m in spent.items() if m is not None]
    return sorted({min(known, key=lambda i: abs(spent[i] - m)) for m in minutes}) if known else []


def score(checkpoint: Path, utterances, wer: bool, references: bool = True,
          envelope_iterations: int | None = None) -> dict:
    """evaluate's results for one checkpoint; the reference rows (Griffin-Lim, recordings, floor) only when asked.
    envelope_iterations: infer with this many mel-envelope projections instead of the checkpoint's own setting."""
    import dataclasses

    from waveglow.evaluation.runner import EvaluationSettings, evaluate
    from waveglow.vocoder.loading import load_for_scoring

    loaded = load_for_scoring(checkpoint)
    if envelope_iterations is not None:
        loaded = dataclasses.replace(loaded, model=loaded.model.with_config(envelope_iterations=envelope_iterations))
    return evaluate(loaded, utterances, EvaluationSettings(wer=wer, references=references), log=lambda line: None)


def fmt(value, digits: int, scale: float) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    import torch

    from waveglow.commands.evaluate import held_out_utterances
    from waveglow.vocoder.run_checkpoints import CheckpointStore, load_training_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="training run directories, one per arm")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory (its held-out clips are used)")
    parser.add_argument("--clips", type=int, default=8, help="first N held-out clips (default 8)")
    parser.add_argument("--points", type=int, default=4, help="checkpoints per arm (default 4)")
    parser.add_argument("--wer", action="store_true", help="also PocketSphinx WER (slower)")
    parser.add_argument("--cpu-log", type=Path, help="CPU-seconds log written while the arms trained")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, help="write every result as JSON here")
    parser.add_argument("--at-cpu-minutes", type=float, nargs="+", metavar="M",
                        help="instead of --points: per arm the checkpoints nearest these CPU minutes (needs --cpu-log), "
                             "so arms are compared at equal compute")
    parser.add_argument("--envelope-iterations", type=int, metavar="N",
                        help="score every checkpoint with N mel-envelope projections at inference (default: each "
                             "checkpoint's own model.envelope_iterations)")
    parser.add_argument("--quick", action="store_true", help="1 clip, 1 point, no WER")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.points, args.wer = 1, 1, False
    torch.set_num_threads(args.threads)
    utterances = held_out_utterances(args.data, args.clips)
    rows, references = [], None
    for run in map(Path, args.runs):
        store = CheckpointStore(run / "checkpoints")
        iterations = store.iterations()
        if not iterations:
            sys.exit(f"{run}: no checkpoints")
        if args.at_cpu_minutes:
            if args.cpu_log is None:
                sys.exit("--at-cpu-minutes needs --cpu-log")
            spent = {i: cpu_minutes(args.cpu_log, run, store.path_for(i).stat().st_mtime) for i in iterations}
            chosen = nearest(spent, args.at_cpu_minutes)
            if not chosen:
                sys.exit(f"{run}: no CPU minutes logged for its checkpoints")
        else:
            chosen = spread(iterations, args.points)
        for iteration in chosen:
            path = store.path_for(iteration)
            payload = load_training_checkpoint(path)
            results = score(path, utterances, args.wer, references=references is None,
                            envelope_iterations=args.envelope_iterations)  # references once
            references = references or results["summary"]
            rows.append({"arm": run.name, "iteration": iteration,
                         "minutes": float(payload.get("elapsed_seconds", 0.0)) / 60,
                         "cpu_minutes": cpu_minutes(args.cpu_log, run, path.stat().st_mtime),
                         "scores": results["summary"]["waveglow"]})
            print(f"{run.name} {iteration}: " + ", ".join(
                f"{title} {fmt(rows[-1]['scores'].get(key), digits, scale)}" for key, title, digits, scale in COLUMNS),
                file=sys.stderr)
    header = "| arm | minutes | CPU min | steps | " + " | ".join(title for _, title, _, _ in COLUMNS) + " |"
    lines = [f"{len(utterances)} held-out clips; weights each run exports (its moving average when kept)", "",
             header, "|---" * (4 + len(COLUMNS)) + "|"]
    for row in rows:
        cells = [fmt(row["scores"].get(key), digits, scale) for key, _, digits, scale in COLUMNS]
        cpu = fmt(row["cpu_minutes"], 1, 1.0)
        lines.append(f"| {row['arm']} | {row['minutes']:.1f} | {cpu} | {row['iteration']:,} | " + " | ".join(cells)
                     + " |")
    for key, title in REFERENCE_ROWS:
        cells = [fmt(references[key].get(name), digits, scale) for name, _, digits, scale in COLUMNS]
        lines.append(f"| {title} | | | | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.out is not None:
        from waveglow.common.atomic import atomic_write_text

        atomic_write_text(args.out, json.dumps({"rows": rows, "references": references,
                                                "clips": [u.utt_id for u in utterances]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
