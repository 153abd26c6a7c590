"""English number words both ways: "forty" -> 40 for parsers, 42 -> "forty two" for recogniser vocabularies.

The one table every reader of numbers derives its word sets from; plain data and pure functions, no I/O.
"""

from __future__ import annotations

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9}  # fmt: skip
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}  # fmt: skip
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}  # fmt: skip
CARDINALS = {**UNITS, **TEENS, **TENS}
# A spelling transcripts carry that no dictionary does; a reader that accepts it says so by adding it.
MISSPELLED_TENS = {"fourty": 40}
SCALES = {"hundred": 100, "thousand": 1000}
REPEATS = {"double": 2, "triple": 3}  # "double five" is 55
ZERO_WORDS = frozenset({"oh", "o"})  # zero as digits are read out: "nine oh five"
# Every correctly spelled word that can stand in a spoken number.
NUMBER_WORDS = frozenset(CARDINALS) | frozenset(SCALES) | frozenset(REPEATS)

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
            "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
            "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
            "nineteenth": 19, "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
            "sixtieth": 60, "seventieth": 70, "eightieth": 80, "ninetieth": 90}  # fmt: skip
# The ordinals that name a day of the month in one word; the 21st is two ("twenty first").
DAY_ORDINALS = {word: value for word, value in ORDINALS.items() if value <= 20 or value == 30}

_CARDINAL_OF = {value: word for word, value in CARDINALS.items()}
_ORDINAL_OF = {_CARDINAL_OF[value]: word for word, value in ORDINALS.items()}


def is_number_word(word: str) -> bool:
    """A word that can stand in a spoken number (cardinal, scale, repeat, misspelled tens) or digits."""
    return word in NUMBER_WORDS or word in MISSPELLED_TENS or word.isdigit()


def number_words(value: int) -> str:
    """A cardinal as spoken: 42 -> "forty two", 1905 -> "nineteen oh five", 2026 -> "twenty twenty six"."""
    if value < 0:
        return "minus " + number_words(-value)
    if value < 20:
        return _CARDINAL_OF[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _CARDINAL_OF[tens * 10] + ("" if ones == 0 else " " + _CARDINAL_OF[ones])
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return _CARDINAL_OF[hundreds] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    if value < 10000 and value % 1000 >= 10:
        # Years and street numbers in pairs: 1905 -> "nineteen oh five", 1900 -> "nineteen hundred".
        high, low = divmod(value, 100)
        if low == 0:
            return number_words(high) + " hundred"
        return number_words(high) + " " + (number_words(low) if low >= 10 else "oh " + _CARDINAL_OF[low])
    if value < 1_000_000:
        thousands, rest = divmod(value, 1000)
        return number_words(thousands) + " thousand" + ("" if rest == 0 else " " + number_words(rest))
    return digit_words(str(value))


def ordinal_words(value: int) -> str:
    """1 -> "first", 22 -> "twenty second", 30 -> "thirtieth", 100 -> "one hundredth"."""
    words = number_words(value).split()
    words[-1] = _ORDINAL_OF.get(words[-1], words[-1] + "th")
    return " ".join(words)


def digit_words(digits: str) -> str:
    """Each digit on its own, as ids and phone numbers are read out: "4503" -> "four five zero three"."""
    return " ".join(_CARDINAL_OF[int(d)] for d in digits if d.isdigit())
