"""``qasid stop-list``, ``qasid block-list`` and ``qasid inbound``: who must not be sent to, and what
phones wrote to accounts' numbers.

Numbers are kept in E.164: an account's are read in its default region, so they may be typed as
they are dialled there; the operator's block-list holds for every account, so it takes E.164 only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from sqlalchemy import Connection

from qasid.accounts.service import require_account
from qasid.cli.common import fail, now, reading, transaction
from qasid.errors import InvalidRequest
from qasid.inbound.reading import set_keywords, shown_keywords
from qasid.inbound.repository import InboundFilter, InboundRepository
from qasid.inbound.schemas import InboundMessage, KeywordsRequest, KeywordsShown
from qasid.optout import service
from qasid.optout.records import OPERATOR, ListKind, Source
from qasid.optout.schemas import AddNumberRequest, ListedNumber

stop_list = typer.Typer(
    help="Numbers that opted out of an account's messages: its sends skip them unless told not to.",
    no_args_is_help=True,
)
block_list = typer.Typer(
    help="Numbers never sent to: the operator's, for every account, and each account's own.",
    no_args_is_help=True,
)
inbound = typer.Typer(
    help="What phones wrote to accounts' numbers, and the words that opt them out and back in.",
    no_args_is_help=True,
)

Shape = TypeVar("Shape", AddNumberRequest, KeywordsRequest)
AccountArgument = Annotated[str, typer.Argument(help="account id or unique name")]
NumberArgument = Annotated[str, typer.Argument(help="E.164, or national in the account's region")]
AccountOption = Annotated[
    str | None, typer.Option(help="this account's list (id or unique name) instead of the operator's")
]
NoteOption = Annotated[str | None, typer.Option(help="why, for people; up to 300 characters")]
LimitOption = Annotated[int, typer.Option(min=1, help="at most this many")]
AfterOption = Annotated[
    str | None, typer.Option(help="start after this number (the last one of the previous page)")
]
WordsOption = Annotated[
    list[str] | None,
    typer.Option(help="replaces the account's list with the words given; repeat for each word"),
]
TEXT_WIDTH = 60  # of an inbound message's text in a listing


@stop_list.command("add")
def stop_add(account: AccountArgument, number: NumberArgument, note: NoteOption = None) -> None:
    """Stop the account's messages to NUMBER, as if it had sent a stop word.

    Sends to it are refused (reason "stopped") unless they say "stop_list": false; a start word from
    the number, or `qasid stop-list remove`, lets them through again."""
    _add(account, number, ListKind.STOP, note)


@stop_list.command("remove")
def stop_remove(account: AccountArgument, number: NumberArgument) -> None:
    """Take NUMBER off the account's stop-list: the account's messages reach it again."""
    _remove(account, number, ListKind.STOP)


@stop_list.command("list")
def stop_list_numbers(account: AccountArgument, limit: LimitOption = 100, after: AfterOption = None) -> None:
    """The account's stop-list, in number order.

    One line each: number, when it was added, how (keyword: it sent a stop word; api; cli), and
    the note."""
    _list_numbers(account, ListKind.STOP, after, limit)


@block_list.command("add")
def block_add(number: NumberArgument, account: AccountOption = None, note: NoteOption = None) -> None:
    """Never send to NUMBER: from any account, or with --account from that one.

    Sends to it are refused (reason "blocked") whatever they say, one-time codes included."""
    _add(account, number, ListKind.BLOCK, note)


@block_list.command("remove")
def block_remove(number: NumberArgument, account: AccountOption = None) -> None:
    """Take NUMBER off the operator's block-list (or with --account, off that account's).

    It stays blocked if the other list has it too."""
    _remove(account, number, ListKind.BLOCK)


@block_list.command("list")
def block_list_numbers(
    account: AccountOption = None, limit: LimitOption = 100, after: AfterOption = None
) -> None:
    """The operator's block-list (or with --account, that account's), in number order.

    One line each: number, when it was added, how (api or cli), and the note."""
    _list_numbers(account, ListKind.BLOCK, after, limit)


@dataclass(frozen=True, slots=True)
class _List:
    scope: str  # an account id, or the operator's
    region: str | None  # where national numbers are read; None: E.164 only
    name: str  # for what is printed


def _which(conn: Connection, account: str | None, kind: ListKind) -> _List:
    if account is None:
        return _List(OPERATOR, None, "the operator's block-list")
    found = require_account(conn, account)
    return _List(found.id, found.default_region, f"the {kind.value}-list of {found.id}")


def _canonical(number: str, region: str | None) -> str:
    """``number`` in E.164 as the lists keep it; the operator's list has no region to read a
    national number in, so it says so rather than "the account's region"."""
    try:
        return service.canonical(number, region)
    except InvalidRequest:
        if region is None:
            raise InvalidRequest(
                f"invalid number {number!r}: the operator's block-list takes E.164 (+ and the country code)"
            ) from None
        raise


def _add(account: str | None, number: str, kind: ListKind, note: str | None) -> None:
    request = _checked(AddNumberRequest, {"number": "NUMBER", "note": "--note"}, number=number, note=note)
    with transaction() as conn:
        where = _which(conn, account, kind)
        found = _canonical(request.number, where.region)
        added = service.add(conn, where.scope, found, kind, now(), source=Source.CLI, note=request.note)
    typer.echo(f"{found} added to {where.name}" if added else f"{found} is on {where.name} already")


def _remove(account: str | None, number: str, kind: ListKind) -> None:
    with transaction() as conn:
        where = _which(conn, account, kind)
        found = _canonical(number, where.region)
        service.remove(conn, where.scope, found, kind)
    typer.echo(f"{found} removed from {where.name}")


def _list_numbers(account: str | None, kind: ListKind, after: str | None, limit: int) -> None:
    """A page of a list; when there is more, how to ask for the next (on stderr, so the lines alone
    are on stdout)."""
    with reading() as conn:
        where = _which(conn, account, kind)
        start = _canonical(after, where.region) if after is not None else None
        rows = service.page(conn, where.scope, kind, start, limit + 1)
    entries = [ListedNumber.of(row) for row in rows[:limit]]
    for e in entries:
        note = f'  "{_one_line(e.note)}"' if e.note else ""
        typer.echo(f"{e.number:<16}  {e.created_at:%Y-%m-%d %H:%M:%S}  {e.source:<7}{note}".rstrip())
    if len(rows) > limit:
        typer.echo(f"more after {entries[-1].number}: add --after {entries[-1].number}", err=True)


@inbound.command("keywords")
def keywords(
    account: AccountArgument,
    stop: WordsOption = None,
    start: WordsOption = None,
    built_in_stop: Annotated[
        bool, typer.Option("--built-in-stop", help="put back the built-in stop words")
    ] = False,
    built_in_start: Annotated[
        bool, typer.Option("--built-in-start", help="put back the built-in start words")
    ] = False,
) -> None:
    """Show the account's stop and start words, or change them; print them.

    A message to the account whose first word is a stop word puts its sender on the account's
    stop-list, a start word takes it off (case, Arabic diacritics and letter variants aside).
    --stop and --start replace that list and keep the other as it is; a word may not be in both.
    Words are 1 to 30 characters without commas or spaces, up to 30 a list."""
    if stop and built_in_stop:
        fail("choose one of --stop and --built-in-stop")
    if start and built_in_start:
        fail("choose one of --start and --built-in-start")
    if not (stop or start or built_in_stop or built_in_start):
        with reading() as conn:
            shown = shown_keywords(conn, require_account(conn, account).id)
        _show_keywords(shown)
        return
    request = _checked(KeywordsRequest, {"stop": "--stop", "start": "--start"}, stop=stop, start=start)
    with transaction() as conn:
        found = require_account(conn, account)
        before = shown_keywords(conn, found.id)
        set_keywords(
            conn,
            found.id,
            _words(request.stop, built_in_stop, before.stop if before.own_stop else None),
            _words(request.start, built_in_start, before.start if before.own_start else None),
            now(),
        )
        shown = shown_keywords(conn, found.id)
    _show_keywords(shown)


def _words(given: list[str] | None, built_in: bool, kept: list[str] | None) -> list[str] | None:
    """A list as it is to be: the words given, the built-in ones (None), or as it was."""
    if given is not None:
        return given
    return None if built_in else kept


def _show_keywords(shown: KeywordsShown) -> None:
    for name, words, own in (("stop", shown.stop, shown.own_stop), ("start", shown.start, shown.own_start)):
        label = f"{name} ({'own' if own else 'built-in'}):"
        typer.echo(f"{label:<18}{', '.join(words)}")


@inbound.command("list")
def list_inbound(
    account: AccountArgument,
    sender: Annotated[
        str | None, typer.Option("--from", help="only from this number (national: the account's region)")
    ] = None,
    limit: LimitOption = 50,
) -> None:
    """Messages phones wrote to the account's numbers, newest first.

    One line each: id, when it was received, from, to, parts, and the text on one line (shortened;
    `GET /v1/inbound-messages/{id}` has it whole)."""
    with reading() as conn:
        found = require_account(conn, account)
        where = InboundFilter(sender=_canonical(sender, found.default_region) if sender is not None else None)
        rows = InboundRepository(conn).page(found.id, where, limit)
    for m in (InboundMessage.of(row) for row in rows):
        parts = f"{m.parts} part{'' if m.parts == 1 else 's'}"
        typer.echo(f"{m.id}  {m.received_at:%Y-%m-%d %H:%M:%S}  {m.from_}  {m.to}  {parts}  {_short(m.text)}")


def _one_line(text: str) -> str:
    """Text from outside (a phone, a customer) made safe for a terminal line: control characters,
    escape sequences' ESC among them, and line breaks become single spaces."""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())


def _short(text: str) -> str:
    line = _one_line(text)
    return line if len(line) <= TEXT_WIDTH else line[: TEXT_WIDTH - 1] + "…"


def _checked(shape: type[Shape], typed: dict[str, str], **fields: Any) -> Shape:
    """What was typed, checked by the API's own request shape (lengths, forbidden characters), so
    the terminal cannot store what the API would refuse; ``typed`` names each field as typed."""
    try:
        return msgspec.convert({k: v for k, v in fields.items() if v is not None}, shape)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")  # "Expected ... - at `$.stop[1]`"
        field, _, index = where.rstrip("`]").partition("[")
        label = typed.get(field, field)
        value = fields.get(field)
        if index and isinstance(value, list):  # one of several words: say which
            label += f" {value[int(index)]!r}"
        fail(f"invalid {label}: {message}" if where else message)
        raise  # unreachable: fail() exits
