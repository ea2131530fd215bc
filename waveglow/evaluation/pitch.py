"""F0 RMSE (cents) and voiced/unvoiced error of a resynthesis against its recording, from librosa's pYIN tracker.

Pinned analysis (recorded in every results file as `PITCH_ANALYSIS`):
  * librosa.pyin (probabilistic YIN, Mauch & Dixon 2014) on the audio at its own rate, 65-400 Hz search range,
    frame 1024 / hop 256 samples at 22050 Hz (46 / 11.6 ms; scaled to other rates), centred frames;
  * a frame is voiced when pYIN's Viterbi decoding says so; both tracks are cut to the shorter one;
  * F0 RMSE: sqrt(mean (1200 * log2(f0 / f0_ref))^2) cents over the frames voiced in both tracks;
  * V/UV error: the fraction of all frames where the two voicing decisions differ (0 for identical signals).

pYIN rather than WORLD's harvest or dio (pyworld): on five held-out clips pYIN reproduced the project's earlier
reference measurements (V/UV error Griffin-Lim 0.054 vs 0.053, random-phase floor 0.234 vs 0.248), harvest put
Griffin-Lim at 0.11, and dio+stonemask put the floor at 0.56 (it drops voicing in half of each recording). librosa is a core dependency, so this metric is always available.
"""
from __future__ import annotations

import numpy as np

from waveglow.audio.excitation import FMAX_HZ, FMIN_HZ, FRAME_SECONDS, HOP_SECONDS, f0_track
from waveglow.evaluation.quality import MetricError

__all__ = ["PITCH_ANALYSIS", "f0_track", "pitch_errors"]

PITCH_ANALYSIS = {
    "tracker": "librosa.pyin (Viterbi voicing), centred frames", "fmin_hz": FMIN_HZ, "fmax_hz": FMAX_HZ,
    "frame_seconds": FRAME_SECONDS, "hop_seconds": HOP_SECONDS,
    "f0_rmse": "1200 * log2(f0 / f0_ref), RMS over frames voiced in both, cents",
    "vuv_error": "fraction of frames whose voicing decisions differ",
}


def pitch_errors(reference_f0: np.ndarray, f0: np.ndarray) -> tuple[float | None, float]:
    """(F0 RMSE in cents over frames voiced in both, V/UV error in 0..1) of track `f0` against `reference_f0`
    (both from f0_track, Hz, 0 = unvoiced). RMSE is None when no frame is voiced in both. Raises MetricError if
    either track is empty."""
    n = min(len(reference_f0), len(f0))
    if n == 0:
        raise MetricError("pitch: empty F0 track")
    reference_f0, f0 = reference_f0[:n], f0[:n]
    ref_voiced, voiced = reference_f0 > 0, f0 > 0
    vuv_error = float(np.mean(ref_voiced != voiced))
    both = ref_voiced & voiced
    if not both.any():
        return None, vuv_error
    cents = 1200.0 * np.log2(f0[both] / reference_f0[both])
    return float(np.sqrt(np.mean(cents ** 2))), vuv_error
