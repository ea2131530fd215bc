"""PESQ (wideband) and STOI through the `pesq` and `pystoi` packages, with failures reported, not raised.

PESQ: ITU-T P.862.2 wideband mode, defined at 16 kHz only. Both signals are resampled from their rate to 16 kHz
with waveglow.audio.resample_audio (scipy.signal.resample_poly, Kaiser-windowed polyphase filter), clipped to
[-1, 1] and cut to the shorter length. Range about 1.04 .. 4.64 (identical signals score ~4.64).
STOI: short-time objective intelligibility (Taal et al. 2011, not the extended variant) at the audio's own rate;
pystoi resamples to 10 kHz internally. Range 0 .. 1 (identical signals: 1).
"""
from __future__ import annotations

import warnings

import numpy as np
from waveglow.audio.features import resample_audio
from waveglow.common.errors import ToolkitError

PESQ_RATE = 16000  # Hz: the only rate P.862.2 wideband is defined at
PESQ_METHOD = "pesq package, mode 'wb' (P.862.2), signals resampled to 16 kHz by scipy.signal.resample_poly (Kaiser)"
STOI_METHOD = "pystoi.stoi(extended=False) at the audio rate (pystoi resamples to 10 kHz internally)"


class MetricError(ToolkitError):
    """A metric that cannot be computed for this utterance (silent or too short input, ...): message says why."""


def _aligned(reference: np.ndarray, degraded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(reference), len(degraded))
    return (np.clip(reference[:n], -1.0, 1.0).astype(np.float32),
            np.clip(degraded[:n], -1.0, 1.0).astype(np.float32))


def pesq_wideband(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """PESQ-WB MOS-LQO of `degraded` against `reference` (float audio at `rate` Hz). Raises MetricError."""
    import pesq

    reference, degraded = _aligned(reference, degraded)
    if rate != PESQ_RATE:
        reference, degraded = resample_audio(reference, rate, PESQ_RATE), resample_audio(degraded, rate, PESQ_RATE)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # pesq divides by the peak: silent input warns
            return float(pesq.pesq(PESQ_RATE, reference, degraded, "wb"))
    except pesq.PesqError as exc:
        raise MetricError(f"PESQ failed ({type(exc).__name__}: {exc})") from exc


def stoi_score(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """STOI of `degraded` against `reference` (float audio at `rate` Hz), 0..1. Raises MetricError."""
    import pystoi

    reference, degraded = _aligned(reference, degraded)
    if not np.any(reference):
        raise MetricError("STOI undefined (the reference is silent)")  # pystoi would return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(pystoi.stoi(reference, degraded, rate, extended=False))
    # pystoi warns and returns 1e-5 when fewer than 30 non-silent frames (~0.4 s of speech) remain
    too_short = [w for w in caught if "Not enough STFT frames" in str(w.message)]
    if too_short or not np.isfinite(value):
        raise MetricError("STOI undefined (fewer than 30 non-silent 25.6 ms frames)")
    return value


# ---- DNSMOS --------------------------------------------------------------------------------------------------------

DNSMOS_RATE = 16000  # Hz: the rate the DNSMOS networks were trained at
DNSMOS_METHOD = ("speechmos package (bundled DNSMOS ONNX models, onnxruntime CPU): P.808 MOS (model_v8) and P.835 "
                 "SIG/BAK/OVRL (sig_bak_ovr, non-personalised); audio resampled to 16 kHz by "
                 "scipy.signal.resample_poly, not rescaled; clips under 9.01 s are repeated to 9.01 s by the "
                 "package, longer ones scored in 9.01 s windows 1 s apart and averaged")
DNSMOS_KEYS = {"dnsmos_p808": "p808_mos", "dnsmos_sig": "sig_mos", "dnsmos_bak": "bak_mos", "dnsmos_ovrl": "ovrl_mos"}
_dnsmos_scorer = None


def _dnsmos():
    """The speechmos DNSMOS scorer with onnxruntime limited to torch's thread count (built once)."""
    global _dnsmos_scorer
    if _dnsmos_scorer is None:
        import os

        import onnxruntime
        import torch
        from speechmos import dnsmos

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
        models = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")
        scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its __init__ would start sessions on every core
        scorer.primary_model_path = os.path.join(models, "sig_bak_ovr.onnx")
        scorer.onnx_sess = onnxruntime.InferenceSession(scorer.primary_model_path, options,
                                                        providers=["CPUExecutionProvider"])
        scorer.p808_onnx_sess = onnxruntime.InferenceSession(os.path.join(models, "model_v8.onnx"), options,
                                                             providers=["CPUExecutionProvider"])
        _dnsmos_scorer = scorer
    return _dnsmos_scorer


def dnsmos_scores(audio: np.ndarray, rate: int) -> dict[str, float]:
    """Non-intrusive DNSMOS of float audio [T] at `rate` Hz: {dnsmos_p808, dnsmos_sig, dnsmos_bak, dnsmos_ovrl},
    each a MOS on 1..5. Raises MetricError if speechmos / onnxruntime are missing or the audio is silent."""

    try:
        scorer = _dnsmos()
    except ImportError as exc:
        raise MetricError(f"DNSMOS needs speechmos and onnxruntime ({exc}): pip install "
                          f"'waveglow-toolkit[eval]'") from None
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if not np.any(audio):
        raise MetricError("DNSMOS undefined (silent audio)")
    if rate != DNSMOS_RATE:
        audio = resample_audio(audio, rate, DNSMOS_RATE)
    scores = scorer(audio, DNSMOS_RATE, False)
    return {key: float(scores[name]) for key, name in DNSMOS_KEYS.items()}
