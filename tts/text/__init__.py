"""Text front end of NVIDIA/Tacotron2: text -> cleaned text -> symbol ids, and back.

    >>> from tts.text import text_to_sequence, sequence_to_text, symbols
    >>> text_to_sequence("Dr. Who?", ["english_cleaners"])   # "doctor who?"
    [41, 52, 40, 57, 52, 55, 11, 60, 45, 52, 10]

Text inside curly braces is ARPAbet, not cleaned: `{HH AW1 S}` becomes the ids of `@HH @AW1 @S`. Characters
that are not in the symbol table (after cleaning) are silently dropped, as are the pad `_` and any unknown
ARPAbet phone.
"""
from __future__ import annotations

import re

from tts.text.cleaners import CLEANERS, clean_text
from tts.text.cmudict import CMUDict
from tts.text.symbols import ARPABET_PREFIX, PAD, id_to_symbol, symbol_to_id, symbols

__all__ = ["text_to_sequence", "sequence_to_text", "symbols", "clean_text", "CLEANERS", "CMUDict"]

# Text before the first "{", the ARPAbet up to the next "}" (at least one character), the rest.
# DOTALL: unlike NVIDIA's pattern, a newline before or after a brace segment does not cut the text short
# (NVIDIA would silently drop everything after a newline that follows a "}").
_ARPABET_SEGMENT = re.compile(r"(.*?)\{(.+?)\}(.*)", re.DOTALL)


def _symbols_to_ids(chars) -> list[int]:
    # The pad symbol is never produced from text; it only pads batches.
    return [symbol_to_id[s] for s in chars if s in symbol_to_id and s != PAD]


def _arpabet_to_ids(arpabet: str) -> list[int]:
    return _symbols_to_ids([ARPABET_PREFIX + phone for phone in arpabet.split()])


def _plain_text_to_ids(text: str, cleaner_names, cmudict: CMUDict | None) -> list[int]:
    cleaned = clean_text(text, cleaner_names)
    if cmudict is None:
        return _symbols_to_ids(cleaned)
    # The dictionary marks the words it knows with braces; split those out again.
    ids: list[int] = []
    rest = cmudict.to_arpabet(cleaned)
    while rest:
        m = _ARPABET_SEGMENT.match(rest)
        if not m:
            ids += _symbols_to_ids(rest)
            break
        ids += _symbols_to_ids(m.group(1)) + _arpabet_to_ids(m.group(2))
        rest = m.group(3)
    return ids


def text_to_sequence(text: str, cleaner_names, cmudict: CMUDict | None = None) -> list[int]:
    """Symbol ids for `text` after running the named cleaners (e.g. `["english_cleaners"]`).

    Curly-brace segments are taken as ARPAbet and bypass the cleaners. With `cmudict` (a `CMUDict`), every
    cleaned word found in it is replaced by its ARPAbet phones (NVIDIA's default is None: characters only).
    Raises ValueError for an unknown cleaner name.
    """
    clean_text("", cleaner_names)  # validates the names up front, so a typo never passes silently
    ids: list[int] = []
    rest = text
    while rest:
        m = _ARPABET_SEGMENT.match(rest)
        if not m:
            ids += _plain_text_to_ids(rest, cleaner_names, cmudict)
            break
        # Cleaners run on the text before each brace segment separately (so whitespace collapses per piece).
        ids += _plain_text_to_ids(m.group(1), cleaner_names, cmudict)
        ids += _arpabet_to_ids(m.group(2))
        rest = m.group(3)
    return ids


def sequence_to_text(sequence) -> str:
    """Text for symbol ids; ARPAbet runs are shown back in braces (`{HH AW1 S}`). Unknown ids are skipped."""
    pieces = []
    for symbol_id in sequence:
        symbol = id_to_symbol.get(int(symbol_id))
        if symbol is None:
            continue
        if len(symbol) > 1 and symbol.startswith(ARPABET_PREFIX):
            symbol = "{%s}" % symbol[1:]
        pieces.append(symbol)
    # Neighbouring phones were each wrapped in braces: join them into one brace group.
    return "".join(pieces).replace("}{", " ")
