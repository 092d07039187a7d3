"""The two kinds of refusal, and what a send is told of each."""

from __future__ import annotations

from enum import StrEnum

OPERATOR = "*"  # the scope of the operator's block-list: every account


class ListKind(StrEnum):
    STOP = "stop"  # the number opted out (STOP, or by hand); a send may skip this check
    BLOCK = "block"  # never send, whatever the request says


class Source(StrEnum):
    KEYWORD = "keyword"  # the number sent a stop word
    API = "api"
    CLI = "cli"


REASONS = {
    ListKind.STOP: ("stopped", "the number opted out of this account's messages"),
    ListKind.BLOCK: ("blocked", "the number is on the block-list"),
}
