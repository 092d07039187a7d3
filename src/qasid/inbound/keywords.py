"""Opt-out and opt-in words: whether an inbound message says STOP or START.

A message is a keyword when its first word is one, after folding: case, Arabic diacritics and
tatweel, the forms of alef, and the Arabic and Persian/Kurdish letters that look alike (ی and ي,
ک and ك, ە and ه) are made one, and punctuation around the word is dropped. So "stop", "STOP!" and
"Stop sending these" opt out; "don't stop" does not.

The built-in words follow the US carriers' (CTIA) list in English, with common Arabic and Kurdish
(Sorani) equivalents; an account can replace either list (``qasid inbound keywords``). Without a
list of the carriers' own in Iraq, the Arabic and Kurdish sets are our choice: they are documented
in docs/webhooks.md and meant to be adjusted per account.
"""

# ruff: noqa: RUF001, RUF002 - Arabic and Kurdish letters that look like Latin ones are meant here

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"


STOP_WORDS = (
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
    "إيقاف", "ايقاف", "توقف", "إلغاء", "الغاء",
    "ڕاگرتن", "وەستان", "وەستاندن",
)  # fmt: skip
START_WORDS = (
    "START", "UNSTOP", "SUBSCRIBE",
    "اشتراك", "ابدأ", "تفعيل",
    "دەستپێکردن", "دەستپێکردنەوە",
)  # fmt: skip

_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0640]")  # harakat, dagger alef, tatweel
_LETTERS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ی": "ي", "ى": "ي", "ک": "ك", "ە": "ه", "ة": "ه", "ڕ": "ر"}
)
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def fold(word: str) -> str:
    """``word`` as keywords are compared."""
    text = unicodedata.normalize("NFKC", word).casefold()
    return _EDGES.sub("", _DIACRITICS.sub("", text).translate(_LETTERS))


def first_word(text: str) -> str:
    words = text.split()
    return fold(words[0]) if words else ""


class Keywords:
    """An account's opt-out and opt-in words, folded once."""

    def __init__(self, stop: tuple[str, ...] = STOP_WORDS, start: tuple[str, ...] = START_WORDS) -> None:
        self.stop = frozenset(fold(w) for w in stop if fold(w))
        self.start = frozenset(fold(w) for w in start if fold(w))

    @classmethod
    def of(cls, stop_words: str | None, start_words: str | None) -> Keywords:
        """From an account's stored lists (comma separated; None: the built-in ones)."""
        return cls(
            STOP_WORDS if stop_words is None else tuple(stop_words.split(",")),
            START_WORDS if start_words is None else tuple(start_words.split(",")),
        )

    def classify(self, text: str) -> Keyword | None:
        word = first_word(text)
        if word in self.stop:
            return Keyword.STOP
        if word in self.start:
            return Keyword.START
        return None


BUILT_IN = Keywords()
