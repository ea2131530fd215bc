"""The NVIDIA/Tacotron2 symbol table: 148 symbols, id = position in `symbols`.

Layout (ids): 0 pad `_`, 1 `-`, 2..11 punctuation `!'(),.:;? ` (space is 11), 12..37 `A`..`Z`,
38..63 `a`..`z`, 64..147 the 84 CMUdict ARPAbet phones prefixed with `@` in sorted order (`@AA` .. `@ZH`).
The order is part of every trained checkpoint's embedding matrix, so it must never change.
"""
from __future__ import annotations

PAD = "_"
SPECIAL = "-"
PUNCTUATION = "!'(),.:;? "
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ARPABET_PREFIX = "@"

# CMUdict phone set: vowels carry a lexical stress digit (0 none, 1 primary, 2 secondary) or none at all.
_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
               "T", "TH", "V", "W", "Y", "Z", "ZH")

ARPABET: tuple[str, ...] = tuple(sorted(
    [v + stress for v in _VOWELS for stress in ("", "0", "1", "2")] + list(_CONSONANTS)
))

symbols: list[str] = [PAD] + list(SPECIAL) + list(PUNCTUATION) + list(LETTERS) + [ARPABET_PREFIX + p for p in ARPABET]

symbol_to_id: dict[str, int] = {s: i for i, s in enumerate(symbols)}
id_to_symbol: dict[int, str] = dict(enumerate(symbols))
