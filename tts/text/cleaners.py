"""Text cleaners: functions `str -> str` run over input text before it is mapped to symbol ids.

Pick them by name in `text_to_sequence(text, cleaner_names)`:

* `english_cleaners`: transliterate to ASCII, lowercase, spell out numbers, expand abbreviations, collapse
  whitespace (for English text; what NVIDIA's published Tacotron2 was trained with);
* `transliteration_cleaners`: transliterate to ASCII, lowercase, collapse whitespace (non-English text);
* `basic_cleaners`: lowercase and collapse whitespace only.
"""
from __future__ import annotations

import re
from typing import Callable

from unidecode import unidecode

from tts.text.numbers import normalize_numbers

_WHITESPACE = re.compile(r"\s+")

# Title abbreviations: matched case-insensitively at a word start and *including* their period, so
# "Baker St." becomes "baker saint" (the period is consumed). Applied in this order.
_ABBREVIATIONS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\b%s\." % short, re.IGNORECASE), full)
    for short, full in [
        ("mrs", "misess"),
        ("mr", "mister"),
        ("dr", "doctor"),
        ("st", "saint"),
        ("co", "company"),
        ("jr", "junior"),
        ("maj", "major"),
        ("gen", "general"),
        ("drs", "doctors"),
        ("rev", "reverend"),
        ("lt", "lieutenant"),
        ("hon", "honorable"),
        ("sgt", "sergeant"),
        ("capt", "captain"),
        ("esq", "esquire"),
        ("ltd", "limited"),
        ("col", "colonel"),
        ("ft", "fort"),
    ]
]


def expand_abbreviations(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def expand_numbers(text: str) -> str:
    return normalize_numbers(text)


def lowercase(text: str) -> str:
    return text.lower()


def collapse_whitespace(text: str) -> str:
    """Every run of whitespace (spaces, tabs, newlines) becomes one space; ends are not stripped."""
    return _WHITESPACE.sub(" ", text)


def convert_to_ascii(text: str) -> str:
    """Transliterate with unidecode ("café" -> "cafe", "£" -> "PS", "—" -> "--")."""
    return unidecode(text)


def basic_cleaners(text: str) -> str:
    return collapse_whitespace(lowercase(text))


def transliteration_cleaners(text: str) -> str:
    return collapse_whitespace(lowercase(convert_to_ascii(text)))


def english_cleaners(text: str) -> str:
    # Order matters: transliteration runs first, so "£" is already "PS" when numbers are expanded and the
    # pounds rule never fires (kept for parity with NVIDIA's ids).
    text = convert_to_ascii(text)
    text = lowercase(text)
    text = expand_numbers(text)
    text = expand_abbreviations(text)
    return collapse_whitespace(text)


CLEANERS: dict[str, Callable[[str], str]] = {
    "english_cleaners": english_cleaners,
    "transliteration_cleaners": transliteration_cleaners,
    "basic_cleaners": basic_cleaners,
}


def get_cleaner(name: str) -> Callable[[str], str]:
    """The cleaner called `name`; ValueError naming it (and the known ones) if there is none."""
    try:
        return CLEANERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown text cleaner {name!r}; known cleaners: {', '.join(sorted(CLEANERS))}") from None


def clean_text(text: str, cleaner_names: list[str] | tuple[str, ...]) -> str:
    """Run the named cleaners over `text`, in the given order."""
    if isinstance(cleaner_names, str):  # a bare name would otherwise be iterated letter by letter
        cleaner_names = [cleaner_names]
    for name in cleaner_names:
        text = get_cleaner(name)(text)
    return text
