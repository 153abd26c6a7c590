"""Spoken clock times to `HH:MM`: "three thirty pm", "half past two", "quarter to ten", "noon", "14:30".

A bare number only counts as a time after a cue ("at three") or when the caller was asked for a time.
"""

from __future__ import annotations

import re

from voicerouter.providers.offline.nlp.words import ZERO_WORDS, Mention, Token, small_number_at, tokenize

TIME_CUES = {"at", "around", "about", "by", "after", "before", "from", "until", "till", "say", "maybe"}
_MORNING = {"morning"}
_LATER = {"afternoon", "evening", "night", "tonight"}


# Minutes a caller hardly says past an hour, but a recogniser writes for "thirty" and "forty" (fifteen
# and fifty are both said, and sixty or more is no minute).
_MISHEARD_TENS = {"thirteen": 30, "fourteen": 40}


def find_times(text: str | list[Token], *, bare_ok: bool = False, pm_below_hour: int = 7) -> list[Mention]:
    """Every clock time said in `text`, in order. Without am/pm, hours below `pm_below_hour` are read as
    afternoon (a clinic at "three" means 15:00)."""
    tokens = tokenize(text) if isinstance(text, str) else text
    found: list[Mention] = []
    i = 0
    while i < len(tokens):
        parsed = _time_at(tokens, i, bare_ok=bare_ok, pm_below_hour=pm_below_hour)
        if parsed is None:
            i += 1
            continue
        value, end = parsed
        found.append(Mention("time", value, i, end))
        i = end
    return found


def _time_at(tokens: list[Token], i: int, *, bare_ok: bool, pm_below_hour: int) -> tuple[str, int] | None:
    word = tokens[i].text
    if word in {"noon", "midday"}:
        return "12:00", i + 1
    if word == "midnight":
        return "00:00", i + 1
    relative = _relative(tokens, i)
    if relative is not None:
        hour, minute, end = relative
        return _finish(tokens, hour, minute, end, pm_below_hour)
    colon = re.fullmatch(r"(\d{1,2}):(\d{2})", word)
    if colon:
        hour, minute = int(colon.group(1)), int(colon.group(2))
        if hour > 23 or minute > 59:
            return None
        return _finish(tokens, hour, minute, i + 1, pm_below_hour)
    parsed = small_number_at(tokens, i, max_value=23)
    if parsed is None:
        return None
    hour, j = parsed
    minute, cued = 0, False
    if j < len(tokens) and tokens[j].text in {"o'clock", "oclock"}:
        j, cued = j + 1, True
    elif j < len(tokens) and tokens[j].text == "hundred" and hour >= 1:
        j, cued = j + 1, True
    elif j + 1 < len(tokens) and tokens[j].text in ZERO_WORDS and small_number_at(tokens, j + 1, max_value=9):
        minute, j = small_number_at(tokens, j + 1, max_value=9) or (0, 0)
        cued = True
    else:
        tail = small_number_at(tokens, j, max_value=59)
        if tail is not None and tail[0] >= 10:
            minute, j = tail
            if tokens[j - 1].text in _MISHEARD_TENS:  # "nine thirteen": a recogniser's -teen for -ty
                minute = _MISHEARD_TENS[tokens[j - 1].text]
    _, meridiem = _meridiem(tokens, j)
    cue_before = i > 0 and tokens[i - 1].text in TIME_CUES
    if not (cued or meridiem or cue_before or bare_ok):
        return None
    if meridiem and not 1 <= hour <= 12:
        return None
    return _finish(tokens, hour, minute, j, pm_below_hour)


def _relative(tokens: list[Token], i: int) -> tuple[int, int, int] | None:
    """ "half past two", "a quarter to ten", "ten past four", "twenty minutes after three"."""
    j = i + 1 if tokens[i].text == "a" else i
    if j >= len(tokens):
        return None
    if tokens[j].text == "half":
        minutes, k = 30, j + 1
    elif tokens[j].text == "quarter":
        minutes, k = 15, j + 1
    else:
        parsed = small_number_at(tokens, j, max_value=59)
        if parsed is None:
            return None
        minutes, k = parsed
        if k < len(tokens) and tokens[k].text in {"minute", "minutes"}:
            k += 1
    if tokens[j].text == "half" and k < len(tokens) and tokens[k].text not in {"past", "an", "a", "hour"}:
        said = small_number_at(tokens, k, max_value=12)  # "half eight", as said in Britain: 8:30
        if said is not None and said[0] >= 1:
            return said[0], 30, said[1]
    if k >= len(tokens) or tokens[k].text not in {"past", "after", "to", "before", "til", "till"}:
        return None
    direction = tokens[k].text
    if direction in {"after", "before", "till", "til"} and tokens[j].text not in {"half", "quarter"}:
        if k + 1 < len(tokens) and small_number_at(tokens, k + 1, max_value=12) is None:
            return None
    hour_parsed = small_number_at(tokens, k + 1, max_value=23)
    if hour_parsed is None:
        if k + 1 < len(tokens) and tokens[k + 1].text in {"noon", "midday"}:
            hour_parsed = (12, k + 2)
        else:
            return None
    hour, end = hour_parsed
    if direction in {"past", "after"}:
        return hour, minutes, end
    if tokens[j].text == "half":
        return None  # "half to" is not said
    return (hour - 1) % 24, 60 - minutes, end


def _meridiem(tokens: list[Token], j: int) -> tuple[int, str]:
    """(end index, "am"|"pm"|"") for "am", "p m", "in the morning", "this afternoon", "at night"."""
    if j >= len(tokens):
        return j, ""
    word = tokens[j].text
    if word in {"am", "pm"}:
        return j + 1, word
    if word in {"a", "p"} and j + 1 < len(tokens) and tokens[j + 1].text == "m":
        return j + 2, word + "m"
    if word in {"in", "this", "at"} and j + 1 < len(tokens):
        k = j + 2 if tokens[j + 1].text == "the" else j + 1
        if k < len(tokens) and tokens[k].text in _MORNING:
            return k + 1, "am"
        if k < len(tokens) and tokens[k].text in _LATER:
            return k + 1, "pm"
    if word == "tonight":
        return j + 1, "pm"
    return j, ""


def _finish(tokens: list[Token], hour: int, minute: int, end: int, pm_below_hour: int) -> tuple[str, int]:
    end, meridiem = _meridiem(tokens, end)
    if meridiem == "am":
        hour = 0 if hour == 12 else hour
    elif meridiem == "pm":
        hour = hour if hour >= 12 else hour + 12
    elif 1 <= hour < pm_below_hour:
        hour += 12
    return f"{hour:02d}:{minute:02d}", end
