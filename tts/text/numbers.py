"""Spell out numbers in English text the way NVIDIA/Tacotron2's `english_cleaners` does.

Rules run as regex substitutions in this fixed order (each sees the previous one's output):

1. commas inside digit runs are removed ("1,234" -> "1234");
2. pounds  `£12`    -> "12 pounds";
3. dollars `$3.50`  -> "3 dollars, 50 cents" (`$1` "1 dollar", `$.01` "1 cent", `$0` "zero dollars");
4. decimals `3.14`  -> "3 point 14";
5. ordinals `21st`  -> "twenty-first";
6. every remaining digit run is read as a cardinal, except 1001..2999 which are read like years
   ("1999" -> "nineteen ninety-nine", "1900" -> "nineteen hundred", "2005" -> "two thousand five").

Inputs are expected lowercase (ordinal suffixes are matched in lowercase only).
"""
from __future__ import annotations

import re

import inflect

_inflect = inflect.engine()

_DIGITS_WITH_COMMAS = re.compile(r"([0-9][0-9,]+[0-9])")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_CARDINAL = re.compile(r"[0-9]+")


def _remove_commas(m: re.Match) -> str:
    return m.group(1).replace(",", "")


def _spell_dollars(m: re.Match) -> str:
    amount = m.group(1)
    parts = amount.split(".")
    if len(parts) > 2:  # not a money amount ("$1.2.3"): leave the digits for the later rules
        return amount + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    # The cents are the digits after the point read as an integer ("$3.5" -> 5 cents), as NVIDIA does.
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    dollar_unit = "dollar" if dollars == 1 else "dollars"
    cent_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {dollar_unit}, {cents} {cent_unit}"
    if dollars:
        return f"{dollars} {dollar_unit}"
    if cents:
        return f"{cents} {cent_unit}"
    return "zero dollars"


def _spell_decimal_point(m: re.Match) -> str:
    return m.group(1).replace(".", " point ")


def _spell_ordinal(m: re.Match) -> str:
    return _inflect.number_to_words(m.group(0))


def spell_cardinal(number: int) -> str:
    """English words for a non-negative integer; 1001..2999 read as a year."""
    if 1000 < number < 3000:
        if number == 2000:
            return "two thousand"
        if 2000 < number < 2010:
            return "two thousand " + _inflect.number_to_words(number % 100)
        if number % 100 == 0:
            return _inflect.number_to_words(number // 100) + " hundred"
        # Pairs of digits: 1999 -> "nineteen, ninety-nine"; 1005 -> "ten, oh five".
        return _inflect.number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ")
    return _inflect.number_to_words(number, andword="")


def _spell_cardinal(m: re.Match) -> str:
    return spell_cardinal(int(m.group(0)))


def normalize_numbers(text: str) -> str:
    """Replace every number in `text` by words (rules and order in the module docstring)."""
    text = _DIGITS_WITH_COMMAS.sub(_remove_commas, text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_spell_dollars, text)
    text = _DECIMAL.sub(_spell_decimal_point, text)
    text = _ORDINAL.sub(_spell_ordinal, text)
    text = _CARDINAL.sub(_spell_cardinal, text)
    return text
