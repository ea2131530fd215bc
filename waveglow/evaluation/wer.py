"""Word error rate: transcript normalisation, word-level edit distance and an off-the-shelf recogniser
(PocketSphinx with its bundled US English model).

Text is compared after lowercasing, spelling numbers as words, turning hyphens / dashes / slashes into spaces and
dropping punctuation other than in-word apostrophes. WER = (substitutions + deletions + insertions) / reference
words.
"""
from __future__ import annotations

import re

import numpy as np
from waveglow.audio.features import resample_audio
from tts.text.numbers import normalize_numbers

RECOGNISER_RATE = 16000  # Hz: PocketSphinx's US English model is trained on 16 kHz speech


def normalize_words(text: str) -> list[str]:
    """Lowercased words with numbers spelled out, hyphens split and punctuation (but in-word ') removed."""

    text = normalize_numbers(text.lower())
    text = re.sub(r"[-\u2013\u2014/]", " ", text)
    text = re.sub(r"[^a-z' ]", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) after `normalize_words` on both texts."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Errors / reference words, as a fraction (can exceed 1 with insertions). Empty reference: 0 or inf."""
    errors, words = word_errors(reference, hypothesis)
    if words == 0:
        return 0.0 if errors == 0 else float("inf")
    return errors / words


class Recognizer:
    """PocketSphinx with its default US English acoustic model, dictionary and language model.

    Raises ImportError (saying how to install it) when pocketsphinx is missing.
    """

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise ImportError("pocketsphinx is not installed: .venv/bin/pip install pocketsphinx") from exc
        self.decoder = Decoder(samprate=RECOGNISER_RATE, loglevel="FATAL")

    def transcribe(self, audio: np.ndarray, rate: int) -> str:
        """float audio [T] in [-1, 1] at `rate` Hz -> recognised text (lowercase words, may be empty)."""

        audio = resample_audio(audio, rate, RECOGNISER_RATE) if rate != RECOGNISER_RATE else audio
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""
