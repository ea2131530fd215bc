"""Copy-synthesis evaluation of a WaveGlow on held-out clips, with Griffin-Lim, the recordings and the random-phase
floor as reference rows.

For each clip: mel of the recording (the model's mel settings) -> WaveGlow resynthesis, Griffin-Lim from the same
mel, and the floor (the mel's envelope with random phase: Griffin-Lim's NNLS magnitude, one inverse STFT; what a
model that learnt the envelope and no phase produces). Each row is scored against the recording: PESQ-WB, STOI,
MCD (see quality.py and mcd.py), F0 RMSE in cents and V/UV error (pitch.py), the multi-resolution STFT distance
(waveglow.stft_distance) over the full band and 0-8 kHz, and PocketSphinx WER against the normalised transcript
(wer.py); DNSMOS P.808 and P.835 SIG/BAK/OVRL (quality.py) need no reference. The recordings' row scores the
recording against itself: the ceiling of each metric, for WER the recogniser's own error on real speech and for
DNSMOS what the predictor thinks of the recordings. A metric whose package is missing is None with a note.
Synthesised audio is clipped to [-1, 1] (what a 16-bit file holds) and cut to the recording's length.
bits/sample: exact held-out NLL of the recordings under the WaveGlow (waveglow.training.nll), WaveGlow row only.
RTF: synthesis seconds per second of audio on this machine (torch threads in settings), WaveGlow and Griffin-Lim.

Summary: the per-clip metrics are means over the clips where they could be computed (counts given); WER pools all
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

from waveglow.audio.griffin_lim import GriffinLimVocoder
from waveglow.audio.stft_distance import MultiResolutionSTFTDistance
from waveglow.evaluation import mcd, pitch, quality, wer
from waveglow.training.nll import HeldOutSet
from waveglow.vocoder.inference import get_vocoder, make_generator
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow_data.ljspeech import Utterance


ROWS = ("waveglow", "griffin_lim", "real", "floor")
WER_METHOD = "PocketSphinx 16 kHz US English default model vs normalised transcript; pooled words"
ROW_TITLES = {"waveglow": "WaveGlow", "griffin_lim": "Griffin-Lim", "real": "real recordings",
              "floor": "random-phase floor"}
AVERAGED_METRICS = ("dnsmos_p808", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "f0_rmse_cents", "vuv_error",
                    "mrstft", "mrstft_0_8k", "pesq", "stoi", "mcd_db")
MRSTFT_METHOD = ("waveglow.stft_distance.MultiResolutionSTFTDistance (spectral convergence + log-magnitude L1, "
                 "FFT 512/1024/2048) of the row against the recording at the audio rate: full band, and bins <= 8 kHz")
_STFT_DISTANCES: dict[tuple[int, float | None], torch.nn.Module] = {}


@dataclass
class EvaluationSettings:
    """What `evaluate` does; stored in the results file. sigma / denoise / seed: WaveGlow synthesis."""

    sigma: float = DEFAULT_SIGMA
    denoise: float = 0.0
    seed: int = 0
    griffin_lim_iters: int = 60
    wer: bool = True
    device: str = "cpu"
    precision: str = "fp32"  # of the WN networks in WaveGlow synthesis
    references: bool = True  # also score Griffin-Lim, the recordings and the floor (False: the model's row alone)


def stft_distance(reference: np.ndarray, audio: np.ndarray, rate: int, max_hz: float | None) -> float:
    """MR-STFT distance of `audio` from `reference` (float [T] at `rate` Hz, cut to the shorter), bins <= max_hz
    (None: full band); 0 for identical signals."""
    key = (rate, max_hz)
    if key not in _STFT_DISTANCES:
        _STFT_DISTANCES[key] = MultiResolutionSTFTDistance(sampling_rate=rate, max_hz=max_hz)
    n = min(len(reference), len(audio))
    with torch.no_grad():
        return float(_STFT_DISTANCES[key](torch.from_numpy(np.ascontiguousarray(audio[None, :n], np.float32)),
                                          torch.from_numpy(np.ascontiguousarray(reference[None, :n], np.float32))))


def row_metrics(reference: np.ndarray, audio: np.ndarray, rate: int, transcript: str | None,
                recognizer: wer.Recognizer | None, reference_f0: np.ndarray | None = None) -> dict:
    """Every metric of AVERAGED_METRICS, and WER, of `audio` against the recording `reference` (both float at
    `rate` Hz). reference_f0: pitch.f0_track(reference, rate) if already computed. A metric that fails or whose
    package is missing is None, with the reason in `notes`."""
    audio = np.clip(audio[:len(reference)], -1.0, 1.0)
    result: dict = {name: None for name in AVERAGED_METRICS}
    result["notes"] = []
    for name, metric in (("pesq", quality.pesq_wideband), ("stoi", quality.stoi_score),
                         ("mcd_db", mcd.mel_cepstral_distortion),
                         ("mrstft", lambda r, a, sr: stft_distance(r, a, sr, None)),
                         ("mrstft_0_8k", lambda r, a, sr: stft_distance(r, a, sr, 8000.0))):
        try:
            result[name] = metric(reference, audio, rate)
        except (quality.MetricError, ValueError, RuntimeError) as exc:  # RuntimeError: torch.stft, too short
            result["notes"].append(f"{name}: {exc}")
    try:
        result.update(quality.dnsmos_scores(audio, rate))
    except quality.MetricError as exc:
        result["notes"].append(f"dnsmos: {exc}")
    try:
        if reference_f0 is None:
            reference_f0 = pitch.f0_track(reference, rate)
        same = len(audio) == len(reference) and np.array_equal(audio, reference)  # the recordings' row
        f0 = reference_f0 if same else pitch.f0_track(audio, rate)
        result["f0_rmse_cents"], result["vuv_error"] = pitch.pitch_errors(reference_f0, f0)
        if result["f0_rmse_cents"] is None:
            result["notes"].append("f0_rmse_cents: no frame voiced in both the recording and this row")
    except (quality.MetricError, ValueError) as exc:
        result["notes"].append(f"pitch: {exc}")
    if recognizer is not None and transcript:
        hypothesis = recognizer.transcribe(audio, rate)
        errors, words = wer.word_errors(transcript, hypothesis)
        result.update(hypothesis=hypothesis, word_errors=errors, reference_words=words,
                      wer=errors / words if words else None)
    return result


def scored_rows(utterances: list[dict]) -> tuple[str, ...]:
    """The ROWS the clips were scored on (all, or the model's alone without references)."""
    return tuple(row for row in ROWS if utterances and row in utterances[0]["rows"]) or ("waveglow",)


def summarise(utterances: list[dict], bits_per_sample: float) -> dict:
    """Per row: the mean of each AVERAGED_METRICS over the clips it scored (with counts n_<metric>), pooled WER,
    bits/sample (WaveGlow row only) and RTF (rows that synthesise)."""
    summary = {}
    for row in scored_rows(utterances):
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
    """Score `loaded` (a waveglow.vocoder.loading.LoadedModel) on `utterances` (already the held-out ones).
    Returns the results dictionary written by `waveglow evaluate` (JSON-ready: missing values are None)."""

    mel = loaded.mel_spectrogram()
    nll_sigma = loaded.train_sigma or 1.0
    held_out = HeldOutSet.load(utterances, mel)
    log(f"{len(held_out)} held-out clips, {held_out.seconds:.1f} s; exact NLL (sigma {nll_sigma}) ...")
    nll = held_out.evaluate(loaded.model, nll_sigma)
    vocoder = get_vocoder(loaded.model, settings.device, settings.precision)
    griffin_lim = GriffinLimVocoder.for_mel(mel.config, n_iter=settings.griffin_lim_iters, seed=settings.seed)
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
        synthesized = {"waveglow": waveglow_audio.numpy(), "real": real}
        if settings.references:
            synthesized["griffin_lim"] = griffin_lim.mel_to_audio(item.mel)
            synthesis_seconds["griffin_lim"] = time.perf_counter() - tic
            tic = time.perf_counter()
            synthesized["floor"] = griffin_lim.random_phase_audio(item.mel)
            synthesis_seconds["floor"] = time.perf_counter() - tic
        reference_f0 = pitch.f0_track(real, rate)
        rows = {row: row_metrics(real, synthesized[row], rate, transcripts[item.utt_id], recognizer, reference_f0)
                for row in (ROWS if settings.references else ("waveglow",))}
        per_utterance.append({"utt_id": item.utt_id, "seconds": len(real) / rate, "text": transcripts[item.utt_id],
                              "bits_per_sample": nll.per_utterance[item.utt_id],
                              "synthesis_seconds": synthesis_seconds, "rows": rows})
        log(f"  {item.utt_id} ({len(real) / rate:.1f} s) in {time.perf_counter() - start:.1f} s: " + "; ".join(
            f"{ROW_TITLES[r]} " + format_metrics(rows[r]) for r in rows))
    return {
        "checkpoint": loaded.source, "checkpoint_kind": loaded.kind, "iteration": loaded.iteration,
        "weights": loaded.weights,
        "split": "held-out (LJ050-*, LJ002-0181..0200)", "n_utterances": len(per_utterance),
        "seconds": held_out.seconds,
        "settings": {**asdict(settings), "nll_sigma": nll_sigma, "mel": mel.config.spectrogram_settings(),
                     "envelope_iterations": loaded.model.config.envelope_iterations,
                     "torch_threads": torch.get_num_threads(),
                     "pesq": quality.PESQ_METHOD, "stoi": quality.STOI_METHOD, "mcd": mcd.MCD_ANALYSIS,
                     "dnsmos": quality.DNSMOS_METHOD, "pitch": pitch.PITCH_ANALYSIS, "mrstft": MRSTFT_METHOD,
                     "floor": "Griffin-Lim's NNLS magnitude of the mel, uniform random phase (seed), one inverse STFT",
                     "wer_method": (WER_METHOD if settings.wer else None),
                     "synthesised_audio": "clipped to [-1, 1], cut to the recording's length"},
        "summary": summarise(per_utterance, nll.bits_per_sample),
        "nll": {k: v for k, v in nll.to_dict().items() if k != "per_utterance"},
        "utterances": per_utterance,
    }


def format_metrics(scores: dict) -> str:
    wer_text = "" if scores.get("wer") is None else f" WER {100 * scores['wer']:.0f}%"
    return (f"P.808 {_fmt(scores['dnsmos_p808'], 2)} OVRL {_fmt(scores['dnsmos_ovrl'], 2)} "
            f"V/UV {_fmt(scores['vuv_error'], 3)} PESQ {_fmt(scores['pesq'], 2)}{wer_text}").rstrip()


def _fmt(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


#: (results key, column title, digits, scale) of the markdown table, after the system's name
TABLE_COLUMNS = (("dnsmos_p808", "P.808", 2, 1.0), ("dnsmos_sig", "SIG", 2, 1.0), ("dnsmos_bak", "BAK", 2, 1.0),
                 ("dnsmos_ovrl", "OVRL", 2, 1.0), ("f0_rmse_cents", "F0 RMSE c", 1, 1.0),
                 ("vuv_error", "V/UV err", 3, 1.0), ("mrstft", "MR-STFT", 3, 1.0),
                 ("mrstft_0_8k", "MR-STFT 0-8k", 3, 1.0), ("pesq", "PESQ (WB)", 2, 1.0), ("stoi", "STOI", 3, 1.0),
                 ("mcd_db", "MCD dB", 2, 1.0), ("wer", "WER %", 1, 100.0), ("bits_per_sample", "bits/sample", 4, 1.0),
                 ("rtf", "RTF", 3, 1.0))


def markdown_table(results: dict) -> str:
    """The summary as a markdown table: one row per system (ROWS), the TABLE_COLUMNS; then the notes, each
    distinct note once with the number of clips it applies to."""
    settings = results["settings"]
    device = settings["device"] if settings["device"] != "cpu" else f"cpu, {settings['torch_threads']} threads"
    weights = f" ({results['weights']} weights)" if results.get("weights") else ""
    lines = [f"{results['n_utterances']} held-out clips ({results['seconds']:.1f} s), checkpoint "
             f"{results['checkpoint']}{weights}; RTF = synthesis time / audio time ({device}, WaveGlow "
             f"{settings['precision']})", "",
             "| system | " + " | ".join(title for _, title, _, _ in TABLE_COLUMNS) + " |",
             "|---|" + "---:|" * len(TABLE_COLUMNS)]
    for row in scored_rows(results["utterances"]):
        s = results["summary"][row]
        lines.append(f"| {ROW_TITLES[row]} | " + " | ".join(_fmt(s.get(key), digits, scale)
                                                           for key, _, digits, scale in TABLE_COLUMNS) + " |")
    notes: dict[str, list[str]] = {}
    for u in results["utterances"]:
        for row in u["rows"]:
            for note in u["rows"][row]["notes"]:
                notes.setdefault(f"{ROW_TITLES[row]}: {note}", []).append(u["utt_id"])
    if notes:
        lines += ["", "Not scored:"] + [f"- {note} ({_clips(ids)})" for note, ids in notes.items()]
    return "\n".join(lines)


def _clips(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} clips: {ids[0]} ... {ids[-1]}"
