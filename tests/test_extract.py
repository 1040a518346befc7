"""Answer rules: what each extracts from a generation and how it compares with the answer."""

from __future__ import annotations

import pytest

from evolution.scoring.extract import parse_extractor


def test_strip_is_the_whole_text() -> None:
    rule = parse_extractor("strip")
    assert rule("  42 \n") == "42"
    assert rule.matches("42", " 42 ") and not rule.matches("42.", "42")


def test_last_number_normalizes_both_sides() -> None:
    rule = parse_extractor("last_number")
    text = "She has 3 apples, buys 1,200 more... so the total is $1,203.00."
    assert rule(text) == "1203.00"
    assert rule.matches(rule(text), "1203") and rule.matches(rule(text), "#### 1,203")
    assert rule("-7 degrees") == "-7" and rule.matches("-7", "-7.0")
    assert rule("no digits here") is None and not rule.matches(None, "3")
    assert not rule.matches("12", "13")


def test_choice_letter_takes_the_first_standalone_letter_of_the_set() -> None:
    rule = parse_extractor("choice_letter")
    assert rule("I think the answer is (B).") == "B"  # 'I' is not a choice letter
    assert rule("Answer: c") is None  # lower case is not a choice letter
    assert rule("Because ABC... D") == "D"  # letters inside a word never count
    assert rule.matches("b".upper(), "B") and rule.matches("B", "(B)")
    five = parse_extractor({"choice_letter": "ABCDE"})
    assert five("E) none of these") == "E" and rule("E) none of these") is None


def test_regex_group_or_whole_match() -> None:
    rule = parse_extractor({"regex": r"answer is\s*(\w+)"})
    assert rule("so the answer is  Tokyo.") == "Tokyo"
    assert rule("no idea") is None
    assert rule.matches("Tokyo", " Tokyo\n") and not rule.matches("tokyo", "Tokyo")
    whole = parse_extractor({"regex": r"\d+"})
    assert whole("abc 12 de 34") == "12"
    named = parse_extractor({"regex": r"(a)|(b)", "group": 2})
    assert named("a") is None and named("b") == "b"  # a group that did not take part: nothing


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("first_word", "'first_word' is not one of strip, last_number, choice_letter, regex"),
        ("regex", "regex needs a pattern"),
        ({"regex": "("}, "regex: invalid pattern"),
        ({"regex": "(a)", "group": 2}, "group: the pattern has 1 group"),
        ({"regex": "a", "flags": "i"}, "unknown key 'flags'"),
        ({"choice_letter": "A1"}, "choice_letter: expected the letters"),
        (3, "expected a rule name or a mapping"),
    ],
)
def test_bad_rules_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_extractor(value)
