"""Use cases about contacts and lists, for the API and the CLI, inside a write transaction or a read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, RowMapping

from qasid.contacts.repository import ContactRepository
from qasid.domain import ids
from qasid.domain.phone import Refusal, parse_recipient
from qasid.errors import InvalidRequest, ListExists, NotFound
from qasid.inbound.keywords import fold

_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class NewContact:
    number: str  # as given
    name: str | None = None
    fields: dict[str, str] | None = None


def create_list(
    conn: Connection, account_id: str, name: str, now: datetime, *, subscribe_word: str | None = None
) -> RowMapping:
    repo = ContactRepository(conn)
    if repo.list_named(account_id, name) is not None:
        raise ListExists(f"the account has a list named {name!r} already")
    list_id = ids.new_id("lst")
    word = _word(subscribe_word)
    repo.insert_list({"id": list_id, "account_id": account_id, "name": name, "subscribe_word": word,
                      "created_at": now, "updated_at": now})  # fmt: skip
    return require_list(conn, account_id, list_id)


def change_list(
    conn: Connection, account_id: str, list_id: str, now: datetime, changes: dict[str, Any]
) -> RowMapping:
    repo = ContactRepository(conn)
    found = require_list(conn, account_id, list_id)
    values: dict[str, Any] = {}
    if (name := changes.get("name")) is not None and name != found["name"]:
        if repo.list_named(account_id, name) is not None:
            raise ListExists(f"the account has a list named {name!r} already")
        values["name"] = name
    if "subscribe_word" in changes:
        values["subscribe_word"] = _word(changes["subscribe_word"])
    if values:
        repo.change_list(list_id, now, **values)
    return require_list(conn, account_id, list_id)


def _word(word: str | None) -> str | None:
    if word is None:
        return None
    folded = fold(word)
    if not folded or any(c.isspace() for c in word.strip()):
        raise InvalidRequest(
            f"invalid subscribe word {word!r}",
            errors=[{"field": "subscribe_word", "message": "one word, with a letter or digit"}],
        )
    return folded


def require_list(conn: Connection, account_id: str, list_id: str) -> RowMapping:
    found = ContactRepository(conn).get_list(account_id, list_id)
    if found is None:
        raise NotFound(f"no contact list {list_id!r}")
    return found


def add_contacts(
    conn: Connection,
    account_id: str,
    region: str,
    wanted: Sequence[NewContact],
    now: datetime,
    *,
    list_id: str | None,
    checked: bool = False,
) -> list[str]:
    """Contacts added (or merged into those with the same number) and, with ``list_id``, put in the
    list; their ids in order. A number that cannot receive SMS is an InvalidRequest naming it
    (``checked``: the numbers are E.164 already, as a carrier gave them)."""
    numbers = []
    for contact in wanted:
        if checked:
            numbers.append(contact.number)
            continue
        parsed = parse_recipient(contact.number, region)
        if isinstance(parsed, Refusal):
            raise InvalidRequest(
                f"{contact.number!r}: {parsed.detail}", errors=[{"field": "number", "message": parsed.reason}]
            )
        numbers.append(parsed.e164)
    merged = merge_rows(account_id, list(zip(numbers, wanted, strict=True)), now)
    repo = ContactRepository(conn)
    found = repo.merge(merged)
    if list_id is not None:
        repo.join([(list_id, found[number], now) for number in dict.fromkeys(numbers)])
    return [found[number] for number in numbers]


def merge_rows(
    account_id: str, rows: Sequence[tuple[str, NewContact]], now: datetime
) -> list[tuple[Any, ...]]:
    """One CONTACT_COLUMNS row per number: a later row's name and fields win over an earlier one's."""
    by_number: dict[str, tuple[str | None, dict[str, str]]] = {}
    for number, contact in rows:
        name, fields = by_number.get(number, (None, {}))
        by_number[number] = (contact.name or name, {**fields, **(contact.fields or {})})
    return [
        (
            ids.new_id("cnt"),
            account_id,
            number,
            name,
            _json.encode(fields).decode() if fields else None,
            now,
            now,
        )
        for number, (name, fields) in by_number.items()
    ]


def require_contact(conn: Connection, account_id: str, contact_id: str) -> RowMapping:
    found = ContactRepository(conn).get(account_id, contact_id)
    if found is None:
        raise NotFound(f"no contact {contact_id!r}")
    return found


def change_contact(
    conn: Connection,
    account_id: str,
    contact_id: str,
    now: datetime,
    *,
    name: str | None,
    fields: dict[str, str] | None,
) -> RowMapping:
    """A new name, and fields merged into the old (a field set to "" is removed)."""
    found = require_contact(conn, account_id, contact_id)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name or None
    if fields is not None:
        merged = {**(msgspec.json.decode(found["fields"]) if found["fields"] else {}), **fields}
        kept = {k: v for k, v in merged.items() if v != ""}
        values["fields"] = _json.encode(kept).decode() if kept else None
    if values:
        ContactRepository(conn).change(contact_id, now, **values)
    return require_contact(conn, account_id, contact_id)
