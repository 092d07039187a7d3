"""``qasid stop-list``, ``qasid block-list`` and ``qasid inbound``: the operator's commands for who
must not be sent to and what phones wrote, run in-process against the test database, with their
effect checked where a customer meets it: a send through the real API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from qasid.channels.base import Inbound
from qasid.cli.main import app
from qasid.db import Database
from qasid.inbound.service import RecordInbound
from qasid.models import blocked_numbers, inbound_keywords
from tests.support import Customer, Operator

runner = CliRunner()
NUMBER = "+9647700000099"  # the owner's long number (an approved numeric sender)
PHONE = "+9647701112233"
NATIONAL = "07701112233"  # PHONE as it is dialled in Iraq
OTHER_PHONE = "+9647701112234"
ENTRY = re.compile(r'^(\+\d+) +(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  (\S+)(?: +"(.*)")?$')


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def qasid(*args: str, ok: bool = True) -> str:
    """What the command printed (stdout and stderr); a refusal must exit 1."""
    result = run(*args)
    assert result.exit_code == (0 if ok else 1), result.output
    return result.output


def entries(*args: str) -> list[tuple[str, str, str | None]]:
    """A list command's lines as (number, source, note); each was added a moment ago."""
    result = run(*args)
    assert result.exit_code == 0, result.output
    found = []
    for line in result.stdout.splitlines():
        match = ENTRY.match(line)
        assert match, line
        added = datetime.strptime(match[2], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - added) < timedelta(minutes=1), line
        found.append((match[1], match[3], match[4]))
    return found


async def fate(client: httpx.AsyncClient, customer: Customer, number: str, **extra: object) -> str:
    """ "accepted", or why a send to ``number`` alone was refused."""
    response = await client.post(
        "/v1/messages",
        json={"to": [number], "text": "Sale today", "sender": "Qasid", **extra},
        headers=customer.headers,
    )
    if response.status_code == 202:
        return "accepted"
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "no_valid_recipients", problem
    return str(problem["invalid"][0]["reason"])


def mo(db: Database, *messages: Inbound) -> None:
    """Messages from phones, recorded as the gateway records what its connectors hand it."""
    with db.write() as conn:
        RecordInbound.apply_many(conn, [RecordInbound(list(messages))])


def inbound(text: str, *, sender: str = PHONE, to: str = NUMBER[1:], at: datetime | None = None) -> Inbound:
    return Inbound("con_test", sender, to, text, at or datetime.now(UTC))


def listed_numbers(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as conn:
        rows = conn.execute(select(blocked_numbers.c.scope, blocked_numbers.c.number, blocked_numbers.c.kind))
        return sorted((r[0], r[1], r[2]) for r in rows)


@pytest.fixture
def acme(operator: Operator) -> Customer:
    return operator.customer(name="Acme")


@pytest.fixture
def globex(operator: Operator) -> Customer:
    return operator.customer(name="Globex")


@pytest.fixture
def owner(operator: Operator) -> Customer:
    """An account with a long number phones write to."""
    return operator.customer(name="Owner", senders_approved=("Qasid", NUMBER))


class TestOperatorBlockList:
    async def test_an_operator_block_refuses_the_number_to_every_account_until_removed(
        self, client, acme: Customer, globex: Customer
    ):
        added = qasid("block-list", "add", PHONE, "--note", "fraud reports")
        assert added.strip() == f"{PHONE} added to the operator's block-list"
        assert await fate(client, acme, PHONE) == "blocked"
        assert await fate(client, globex, PHONE) == "blocked"
        assert await fate(client, acme, PHONE, stop_list=False) == "blocked"  # whatever the send says
        assert await fate(client, acme, OTHER_PHONE) == "accepted"
        assert entries("block-list", "list") == [(PHONE, "cli", "fraud reports")]
        assert entries("block-list", "list", "--account", "Acme") == []  # not the account's own
        removed = qasid("block-list", "remove", PHONE)
        assert removed.strip() == f"{PHONE} removed from the operator's block-list"
        assert await fate(client, acme, PHONE) == "accepted"
        assert await fate(client, globex, PHONE) == "accepted"
        assert entries("block-list", "list") == []

    async def test_an_accounts_block_holds_for_that_account_only(self, client, acme: Customer, globex):
        added = qasid("block-list", "add", NATIONAL, "--account", "Acme")  # read in Acme's region
        assert added.strip() == f"{PHONE} added to the block-list of {acme.account.id}"
        assert await fate(client, acme, PHONE) == "blocked"
        assert await fate(client, globex, PHONE) == "accepted"
        assert entries("block-list", "list", "--account", acme.account.id) == [(PHONE, "cli", None)]
        assert entries("block-list", "list") == []
        qasid("block-list", "remove", NATIONAL, "--account", "Acme")
        assert await fate(client, acme, PHONE) == "accepted"

    def test_the_operators_list_takes_e164_only_and_writes_nothing_else(self, acme: Customer, db):
        output = qasid("block-list", "add", NATIONAL, ok=False)
        assert output.startswith(f"error: invalid number '{NATIONAL}'")
        assert "E.164" in output
        assert "invalid number 'junk'" in qasid("block-list", "add", "junk", "--account", "Acme", ok=False)
        assert "no account" in qasid("block-list", "add", PHONE, "--account", "Nobody", ok=False)
        assert listed_numbers(db) == []

    def test_adding_twice_says_so_and_removing_what_is_not_there_is_an_error(self, acme: Customer, db):
        qasid("block-list", "add", PHONE, "--note", "first")
        again = qasid("block-list", "add", PHONE, "--note", "second")
        assert again.strip() == f"{PHONE} is on the operator's block-list already"
        assert entries("block-list", "list") == [(PHONE, "cli", "first")]
        missing = qasid("block-list", "remove", PHONE, "--account", "Acme", ok=False)
        assert missing.strip() == f"error: {PHONE} is not on the block list"
        assert listed_numbers(db) == [("*", PHONE, "block")]


class TestStopList:
    async def test_a_stopped_number_is_refused_unless_the_send_skips_the_list_and_remove_lets_it_through(
        self, client, acme: Customer, globex: Customer
    ):
        added = qasid("stop-list", "add", "Acme", NATIONAL, "--note", "asked on the phone")
        assert added.strip() == f"{PHONE} added to the stop-list of {acme.account.id}"
        assert await fate(client, acme, PHONE) == "stopped"
        assert await fate(client, acme, PHONE, stop_list=False) == "accepted"
        assert await fate(client, globex, PHONE) == "accepted"  # another account's list
        removed = qasid("stop-list", "remove", acme.account.id, PHONE)
        assert removed.strip() == f"{PHONE} removed from the stop-list of {acme.account.id}"
        assert await fate(client, acme, PHONE) == "accepted"

    def test_list_shows_how_each_number_got_there_and_its_note(self, owner: Customer, db):
        mo(db, inbound("STOP", sender=OTHER_PHONE))  # the phone opted out itself
        qasid("stop-list", "add", "Owner", PHONE, "--note", "asked on the phone")
        listed = entries("stop-list", "list", "Owner")
        assert listed[0] == (PHONE, "cli", "asked on the phone")
        number, source, note = listed[1]
        assert (number, source) == (OTHER_PHONE, "keyword")
        assert note is not None
        assert note.startswith("sent 'STOP' (inb_")

    def test_a_note_is_shown_on_one_line_without_control_characters(self, acme: Customer):
        qasid("stop-list", "add", "Acme", PHONE, "--note", "line one\nline two\x1b[2J")
        assert entries("stop-list", "list", "Acme") == [(PHONE, "cli", "line one line two [2J")]

    def test_adding_twice_says_so_and_keeps_the_first(self, acme: Customer):
        qasid("stop-list", "add", "Acme", PHONE, "--note", "first")
        again = qasid("stop-list", "add", "Acme", NATIONAL, "--note", "second")
        assert again.strip() == f"{PHONE} is on the stop-list of {acme.account.id} already"
        assert entries("stop-list", "list", "Acme") == [(PHONE, "cli", "first")]

    def test_removing_a_number_not_on_it_exits_1_with_the_reason(self, acme: Customer):
        qasid("block-list", "add", PHONE, "--account", "Acme")  # on the other list: not this one
        output = qasid("stop-list", "remove", "Acme", PHONE, ok=False)
        assert output.strip() == f"error: {PHONE} is not on the stop list"

    def test_pages_in_number_order(self, acme: Customer):
        numbers = [f"+96477011122{n}" for n in (35, 33, 34)]
        for number in numbers:
            qasid("stop-list", "add", "Acme", number)
        first = run("stop-list", "list", "Acme", "--limit", "2")
        assert [line.split()[0] for line in first.stdout.splitlines()] == sorted(numbers)[:2]
        assert f"--after {sorted(numbers)[1]}" in first.stderr
        rest = run("stop-list", "list", "Acme", "--limit", "2", "--after", sorted(numbers)[1])
        assert [line.split()[0] for line in rest.stdout.splitlines()] == sorted(numbers)[2:]
        assert rest.stderr == ""

    def test_what_would_be_refused_writes_nothing(self, acme: Customer, db):
        invalid = qasid("stop-list", "add", "Acme", "junk", ok=False)
        assert invalid.startswith("error: invalid number 'junk'")
        too_long = qasid("stop-list", "add", "Acme", PHONE, "--note", "x" * 301, ok=False)
        assert too_long.startswith("error: invalid --note: ")
        assert "no account" in qasid("stop-list", "add", "Nobody", PHONE, ok=False)
        assert "no account" in qasid("stop-list", "list", "Nobody", ok=False)
        assert listed_numbers(db) == []


class TestKeywords:
    def test_the_built_in_words_are_shown_until_the_account_has_its_own(self, acme: Customer):
        stop, start = qasid("inbound", "keywords", "Acme").splitlines()
        assert stop.startswith("stop (built-in):  STOP, STOPALL, UNSUBSCRIBE, ")
        assert "إيقاف" in stop
        assert start.startswith("start (built-in): START, UNSTOP, SUBSCRIBE, ")

    def test_a_change_is_shown_and_keeps_the_other_list(self, acme: Customer):
        changed = qasid("inbound", "keywords", "Acme", "--stop", "BASTA", "--stop", "HALT")
        stop, start = changed.splitlines()
        assert stop == "stop (own):       BASTA, HALT"
        assert start.startswith("start (built-in): START, ")
        assert qasid("inbound", "keywords", "Acme") == changed
        shown = qasid("inbound", "keywords", "Acme", "--start", "GO").splitlines()
        assert shown == ["stop (own):       BASTA, HALT", "start (own):      GO"]
        back = qasid("inbound", "keywords", "Acme", "--built-in-stop").splitlines()
        assert back[0].startswith("stop (built-in):  STOP, ")
        assert back[1] == "start (own):      GO"
        assert qasid("inbound", "keywords", "Acme", "--built-in-start").startswith("stop (built-in):  STOP")
        assert "start (built-in): START" in qasid("inbound", "keywords", "Acme")

    def test_the_accounts_words_decide_what_opts_a_phone_out(self, owner: Customer, db):
        qasid("inbound", "keywords", "Owner", "--stop", "BASTA")
        mo(db, inbound("stop it", sender=OTHER_PHONE))  # a built-in word no longer stops
        mo(db, inbound("Basta!"))
        assert [(n, source) for n, source, _ in entries("stop-list", "list", "Owner")] == [(PHONE, "keyword")]

    def test_a_word_in_both_lists_exits_1_and_changes_nothing(self, acme: Customer, db):
        qasid("inbound", "keywords", "Acme", "--stop", "BASTA")
        qasid("inbound", "keywords", "Acme", "--start", "stop")  # no clash: the stop words are BASTA
        before = qasid("inbound", "keywords", "Acme")
        clash = qasid("inbound", "keywords", "Acme", "--start", "basta", ok=False)
        assert clash.startswith("error: a word cannot both stop and start: basta")
        assert "error: a word cannot both stop and start: stop" in qasid(
            "inbound", "keywords", "Acme", "--built-in-stop", ok=False
        )
        assert qasid("inbound", "keywords", "Acme") == before

    def test_what_the_api_would_refuse_is_refused(self, acme: Customer, db):
        comma = qasid("inbound", "keywords", "Acme", "--stop", "ok", "--stop", "A,B", ok=False)
        assert comma.startswith("error: invalid --stop 'A,B': ")
        assert "invalid --start 'xxxxx" in qasid("inbound", "keywords", "Acme", "--start", "x" * 31, ok=False)
        many = ["--stop", "w"] * 31
        assert "invalid --stop: " in qasid("inbound", "keywords", "Acme", *many, ok=False)
        both = qasid("inbound", "keywords", "Acme", "--stop", "X", "--built-in-stop", ok=False)
        assert "choose one of --stop and --built-in-stop" in both
        assert "no account" in qasid("inbound", "keywords", "Nobody", ok=False)
        with db.read() as conn:
            assert conn.execute(select(inbound_keywords)).all() == []


class TestInboundList:
    def test_newest_first_one_line_each_and_only_the_accounts_own(self, owner: Customer, acme, db):
        at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
        mo(db, inbound("first", at=at))
        mo(db, Inbound("con_test", OTHER_PHONE, NUMBER, "long " * 20, at + timedelta(minutes=1), 7, 2, 2))
        mo(db, Inbound("con_test", OTHER_PHONE, NUMBER, "first half, ", at + timedelta(minutes=2), 7, 2, 1))
        mo(db, inbound("two\nlines\x1b[2J", at=at + timedelta(minutes=3)))
        mo(db, inbound("to a short code", to="4455", at=at + timedelta(minutes=4)))  # nobody's
        lines = qasid("inbound", "list", "Owner").splitlines()
        fields = [re.split(r"  ", line, maxsplit=5) for line in lines]
        assert [f[0][:4] for f in fields] == ["inb_"] * 3
        assert [f[1:5] for f in fields] == [
            ["2026-12-06 09:33:00", PHONE, NUMBER[1:], "1 part"],
            ["2026-12-06 09:32:00", OTHER_PHONE, NUMBER, "2 parts"],
            ["2026-12-06 09:30:00", PHONE, NUMBER[1:], "1 part"],
        ]
        texts = [f[5] for f in fields]
        assert texts[0] == "two lines [2J"
        assert texts[1].startswith("first half, long long ")
        assert texts[1].endswith("…")
        assert len(texts[1]) == 60
        assert texts[2] == "first"
        assert qasid("inbound", "list", "Acme") == ""

    def test_from_and_limit(self, owner: Customer, db):
        at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
        for n in range(3):
            mo(db, inbound(f"hi {n}", at=at + timedelta(minutes=n)))
        mo(db, inbound("other", sender=OTHER_PHONE, at=at + timedelta(minutes=5)))

        def texts(*options: str) -> list[str]:
            return [
                line.rsplit("  ", 1)[1] for line in qasid("inbound", "list", "Owner", *options).splitlines()
            ]

        assert texts() == ["other", "hi 2", "hi 1", "hi 0"]
        assert texts("--from", NATIONAL) == ["hi 2", "hi 1", "hi 0"]  # read in the account's region
        assert texts("--from", PHONE, "--limit", "2") == ["hi 2", "hi 1"]
        assert qasid("inbound", "list", "Owner", "--from", "junk", ok=False).startswith(
            "error: invalid number 'junk'"
        )
        assert "no account" in qasid("inbound", "list", "Nobody", ok=False)
