"""Copy-synthesis evaluation of a WaveGlow on held-out clips, with Griffin-Lim and the recordings as reference rows.

For each clip: mel of the recording (the model's mel settings) -> WaveGlow resynthesis and Griffin-Lim from the
same mel. Each row is scored against the recording: PESQ-WB, STOI, MCD (see quality.py and mcd.py) and
PocketSphinx WER against the normalised transcript (wer.py). The recordings' row scores the recording against
itself: the ceiling of each metric, and for WER the recogniser's own error on real speech.
Synthesised audio is clipped to [-1, 1] (what a 16-bit file holds) and cut to the recording's length.
bits/sample: exact held-out NLL of the recordings under the WaveGlow (waveglow.training.nll), WaveGlow row only.
RTF: synthesis seconds per second of audio on this machine (torch threads in settings), WaveGlow and Griffin-Lim.

Summary: PESQ, STOI and MCD are means over the clips where they could be computed (counts given); WER pools all
words (total errors / total reference words); bits/sample is sample-weighted over all clips; RTF is total synthesis
time over total audio time.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from data.ljspeech import Utterance

from . import mcd, quality, wer

ROWS = ("waveglow", "griffin_lim", "real")
ROW_TITLES = {"waveglow": "WaveGlow", "griffin_lim": "Griffin-Lim", "real": "real recordings"}
AVERAGED_METRICS = ("pesq", "stoi", "mcd_db")


@dataclass
class EvaluationSettings:
    """What `evaluate` does; stored in the results file. sigma / denoise / seed: WaveGlow synthesis."""

    sigma: float = 0.666
    denoise: float = 0.0
    seed: int = 0
    griffin_lim_iters: int = 60
    wer: bool = True
    device: str = "cpu"
    precision: str = "fp32"  # of the WN networks in WaveGlow synthesis


def row_metrics(reference: np.ndarray, audio: np.ndarray, rate: int, transcript: str | None,
                recognizer: wer.Recognizer | None) -> dict:
    """PESQ, STOI, MCD (dB) and WER of `audio` against the recording `reference` (both float at `rate` Hz).
    A metric that fails is None, with the reason in `notes`."""
    audio = np.clip(audio[:len(reference)], -1.0, 1.0)
    result: dict = {"pesq": None, "stoi": None, "mcd_db": None, "notes": []}
    for name, metric in (("pesq", quality.pesq_wideband), ("stoi", quality.stoi_score),
                         ("mcd_db", mcd.mel_cepstral_distortion)):
        try:
            result[name] = metric(reference, audio, rate)
        except (quality.MetricError, ValueError) as exc:
            result["notes"].append(f"{name}: {exc}")
    if recognizer is not None and transcript:
        hypothesis = recognizer.transcribe(audio, rate)
        errors, words = wer.word_errors(transcript, hypothesis)
        result.update(hypothesis=hypothesis, word_errors=errors, reference_words=words,
                      wer=errors / words if words else None)
    return result


def summarise(utterances: list[dict], bits_per_sample: float) -> dict:
    """Per row: mean PESQ / STOI / MCD over scored clips (with counts), pooled WER, and bits/sample."""
    summary = {}
    for row in ROWS:
        scores = [u["rows"][row] for u in utterances]
        entry: dict = {}
        for name in AVERAGED_METRICS:
            values = [s[name] for s in scores if s[name] is not None]
            entry[name] = float(np.mean(values)) if values else None
            entry[f"n_{name}"] = len(values)
        words = sum(s.get("reference_words", 0) for s in scores)
        errors = sum(s.get("word_errors", 0) for s in scores)
        entry["wer"] = errors / words if words else None
        entry.update(word_errors=errors, reference_words=words)
        entry["bits_per_sample"] = bits_per_sample if row == "waveglow" else None
        times = [u["synthesis_seconds"].get(row) for u in utterances]
        entry["rtf"] = (sum(times) / sum(u["seconds"] for u in utterances)
                        if utterances and None not in times else None)
        summary[row] = entry
    return summary


def evaluate(loaded, utterances: Sequence[Utterance], settings: EvaluationSettings,
             log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> dict:
    """Score `loaded` (a waveglow.training.loading.LoadedModel) on `utterances` (already the held-out ones).
    Returns the results dictionary written by `waveglow evaluate` (JSON-ready: missing values are None)."""
    from tts.griffin_lim import GriffinLimVocoder
    from waveglow.training.nll import HeldOutSet
    from waveglow.vocode import get_vocoder, make_generator

    mel = loaded.mel_spectrogram()
    nll_sigma = loaded.train_sigma or 1.0
    held_out = HeldOutSet.load(utterances, mel)
    log(f"{len(held_out)} held-out clips, {held_out.seconds:.1f} s; exact NLL (sigma {nll_sigma}) ...")
    nll = held_out.evaluate(loaded.model, nll_sigma)
    vocoder = get_vocoder(loaded.model, settings.device, settings.precision)
    griffin_lim = GriffinLimVocoder(sampling_rate=mel.sampling_rate, n_fft=mel.n_fft, hop_length=mel.hop_length,
                                    fmin=mel.fmin, fmax=mel.fmax or mel.sampling_rate / 2,
                                    n_iter=settings.griffin_lim_iters, seed=settings.seed)
    recognizer = wer.Recognizer() if settings.wer else None
    transcripts = {u.utt_id: u.text for u in utterances}
    rate = mel.sampling_rate
    per_utterance = []
    for item in held_out.items:
        start = time.perf_counter()
        real = item.audio.numpy()
        latent = vocoder.latent(item.mel.shape[1], make_generator(settings.seed))
        synthesis_seconds = {}
        tic = time.perf_counter()
        waveglow_audio = vocoder.synthesize(item.mel.unsqueeze(0), latent, settings.sigma, settings.denoise)[0]
        synthesis_seconds["waveglow"] = time.perf_counter() - tic
        tic = time.perf_counter()
        griffin_lim_audio = griffin_lim.mel_to_audio(item.mel)
        synthesis_seconds["griffin_lim"] = time.perf_counter() - tic
        synthesized = {"waveglow": waveglow_audio.numpy(), "griffin_lim": griffin_lim_audio, "real": real}
        rows = {row: row_metrics(real, audio, rate, transcripts[item.utt_id], recognizer)
                for row, audio in synthesized.items()}
        per_utterance.append({"utt_id": item.utt_id, "seconds": len(real) / rate, "text": transcripts[item.utt_id],
                              "bits_per_sample": nll.per_utterance[item.utt_id],
                              "synthesis_seconds": synthesis_seconds, "rows": rows})
        log(f"  {item.utt_id} ({len(real) / rate:.1f} s) in {time.perf_counter() - start:.1f} s: " + "; ".join(
            f"{ROW_TITLES[r]} " + format_metrics(rows[r]) for r in ROWS))
    return {
        "checkpoint": loaded.source, "checkpoint_kind": loaded.kind, "iteration": loaded.iteration,
        "weights": loaded.weights,
        "split": "held-out (LJ050-*, LJ002-0181..0200)", "n_utterances": len(per_utterance),
        "seconds": held_out.seconds,
        "settings": {**asdict(settings), "nll_sigma": nll_sigma, "mel": mel_settings(mel),
                     "torch_threads": torch.get_num_threads(),
                     "pesq": quality.PESQ_METHOD, "stoi": quality.STOI_METHOD, "mcd": mcd.MCD_ANALYSIS,
                     "wer": "PocketSphinx 16 kHz US English default model vs normalised transcript; pooled words",
                     "synthesised_audio": "clipped to [-1, 1], cut to the recording's length"},
        "summary": summarise(per_utterance, nll.bits_per_sample),
        "nll": {k: v for k, v in nll.to_dict().items() if k != "per_utterance"},
        "utterances": per_utterance,
    }


def mel_settings(mel) -> dict:
    return {"sampling_rate": mel.sampling_rate, "n_mels": mel.n_mels, "n_fft": mel.n_fft,
            "hop_length": mel.hop_length, "win_length": mel.win_length, "fmin": mel.fmin, "fmax": mel.fmax}


def format_metrics(scores: dict) -> str:
    wer_text = "" if scores.get("wer") is None else f" WER {100 * scores['wer']:.0f}%"
    return f"PESQ {_fmt(scores['pesq'], 2)} STOI {_fmt(scores['stoi'], 3)} MCD {_fmt(scores['mcd_db'], 2)}{wer_text}"


def _fmt(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def markdown_table(results: dict) -> str:
    """The summary as a markdown table: one row per system, PESQ, STOI, MCD dB, WER %, bits/sample, RTF."""
    settings = results["settings"]
    device = settings["device"] if settings["device"] != "cpu" else f"cpu, {settings['torch_threads']} threads"
    weights = f" ({results['weights']} weights)" if results.get("weights") else ""
    lines = [f"{results['n_utterances']} held-out clips ({results['seconds']:.1f} s), checkpoint "
             f"{results['checkpoint']}{weights}; RTF = synthesis time / audio time ({device}, WaveGlow "
             f"{settings['precision']})", "",
             "| system | PESQ (WB) | STOI | MCD dB | WER % | bits/sample | RTF |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in ROWS:
        s = results["summary"][row]
        lines.append(f"| {ROW_TITLES[row]} | {_fmt(s['pesq'], 2)} | {_fmt(s['stoi'], 3)} | {_fmt(s['mcd_db'], 2)} "
                     f"| {_fmt(s['wer'], 1, 100.0)} | {_fmt(s['bits_per_sample'], 4)} | {_fmt(s['rtf'], 3)} |")
    notes = [f"{u['utt_id']} {ROW_TITLES[row]}: {note}" for u in results["utterances"] for row in ROWS
             for note in u["rows"][row]["notes"]]
    if notes:
        lines += ["", "Not scored:"] + [f"- {note}" for note in notes]
    return "\n".join(lines)
