"""``qasid webhooks``: the operator's commands for accounts' webhook endpoints and deliveries, run
in-process against the test database (and, for the signatures and replays a receiver sees, against
the running gateway and a receiver on loopback)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import RowMapping, func, select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from qasid.api.app import create_app
from qasid.cli.main import app
from qasid.db import Database
from qasid.domain import ids
from qasid.models import webhook_deliveries, webhook_endpoints
from qasid.server_secret import server_secret
from qasid.settings import Settings, get_settings
from qasid.vault import Vault
from qasid.webhooks.events import Event, publish
from qasid.webhooks.records import EventType
from qasid.webhooks.repository import DeliveryFilter, DeliveryRepository
from qasid.webhooks.sender import Due, Rules, Tried, Verdict, record_tries
from tests.receiver import Receiver, verified
from tests.support import Operator, wait_for

runner = CliRunner()
URL = "https://hooks.example.com/qasid"


def qasid(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


def add(account: str, url: str = URL, *options: str) -> tuple[str, str]:
    """``qasid webhooks add``: (endpoint id, secret)."""
    endpoint_id, secret = qasid("webhooks", "add", account, url, *options).splitlines()[:2]
    return endpoint_id, secret


@pytest.fixture
def account(operator: Operator) -> str:
    return operator.customer().account.id


@pytest.fixture
def loopback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The operator lets webhooks reach this machine (QASID_WEBHOOK_ALLOWED_NETWORKS)."""
    monkeypatch.setenv("QASID_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def sealed_secret(db: Database, endpoint_id: str) -> str:
    """The endpoint's secret as the gateway opens it to sign."""
    with db.read() as conn:
        sealed = conn.execute(
            select(webhook_endpoints.c.secret).where(webhook_endpoints.c.id == endpoint_id)
        ).scalar_one()
    return Vault(server_secret(get_settings())).open(sealed)


def signed(secret: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers of ``body`` signed with ``secret``, as the gateway sends them."""
    at = datetime.now(UTC)
    signature = Webhook(secret).sign("evt_1", at, body)
    return {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def endpoint_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_endpoints)).scalar_one())


def event(db: Database, account: str, *, subject: str | None = None, sequence: int = 3) -> str:
    """A ``message.status`` event of the account, published as a state change would; returns the id
    of the delivery made for its (one) endpoint."""
    subject = subject or ids.new_id("msg")
    data = {"id": subject, "status": "delivered", "to": "+9647700000001"}
    with db.write() as conn:
        made = publish(
            conn, [Event(EventType.MESSAGE_STATUS, account, subject, sequence, data)], datetime.now(UTC)
        )
        assert made == 1
        found = DeliveryRepository(conn).page(account, DeliveryFilter(subject_id=subject), 1)
    time.sleep(0.002)  # ids sort by the millisecond: the next event's is later
    return str(found[0]["id"])


def delivery(db: Database, delivery_id: str) -> RowMapping:
    with db.read() as conn:
        found = DeliveryRepository(conn).get(None, delivery_id)
    assert found is not None
    return found


def tried(db: Database, delivery_id: str, verdict: Verdict, **outcome: object) -> None:
    """One try of the delivery, recorded as the sender records it."""
    row = delivery(db, delivery_id)
    columns = {f.name: row[f.name] for f in dataclasses.fields(Due) if f.name in row}  # as claimed
    due = Due(**{**columns, "url": URL, "secret": None})
    now = datetime.now(UTC)
    with db.write() as conn:
        record_tries(conn, [Tried(due, now, verdict, **outcome)], Rules.of(get_settings()), now)


class TestAdd:
    def test_the_printed_secret_is_the_one_that_signs_and_is_shown_only_now(self, account, db):
        output = qasid("webhooks", "add", account, URL)
        endpoint_id, secret = output.splitlines()[:2]
        assert re.fullmatch(r"whe_[0-9a-f]{32}", endpoint_id)
        assert secret.startswith("whsec_")
        assert "shown only now" in output
        body = b'{"type":"message.status"}'
        assert Webhook(secret).verify(body, signed(sealed_secret(db, endpoint_id), body)) == {
            "type": "message.status"
        }
        assert secret not in qasid("webhooks", "list", account)

    def test_list_shows_what_add_made(self, account, operator: Operator):
        endpoint_id, _ = add(account, URL, "--event", "message.status", "--event", "inbound.message",
                             "--statuses", "final", "--description", "order updates")  # fmt: skip
        [line] = qasid("webhooks", "list", account).splitlines()
        events = "message.status,inbound.message"
        assert line == f'{endpoint_id}  enabled  {events}  final  0 failures  {URL}  "order updates"'
        assert qasid("webhooks", "list", operator.customer(name="other").account.id) == ""

    def test_without_event_it_receives_every_event_and_every_state(self, account):
        add(account)
        line = qasid("webhooks", "list", account)
        assert "message.status,verification.status,inbound.message,webhook.disabled  all  " in line

    @pytest.mark.parametrize(
        ("url", "why"),
        [
            ("http://127.0.0.1/hooks", "loopback"),
            ("http://localhost:8000/hooks", "loopback"),
            ("http://10.1.2.3/hooks", "private"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("ftp://x", "http:// or https://"),
            ("https://user:pw@example.com/hooks", "user name"),
        ],
    )
    def test_a_refused_url_is_an_error_and_writes_nothing(self, account, db, url, why):
        output = qasid("webhooks", "add", account, url, ok=False)
        assert output.startswith("error: invalid url")
        assert why in output
        assert "whsec_" not in output
        assert endpoint_count(db) == 0

    def test_the_exit_status_of_a_refusal_is_1(self, account):
        assert runner.invoke(app, ["webhooks", "add", account, "http://127.0.0.1/"]).exit_code == 1

    def test_loopback_is_let_in_when_the_operator_allows_it(self, account, loopback):
        endpoint_id, _ = add(account, "http://127.0.0.1:8080/hooks")
        assert endpoint_id in qasid("webhooks", "list", account)

    def test_what_the_api_would_refuse_is_refused(self, account, db):
        assert "description" in qasid("webhooks", "add", account, URL, "--description", "x" * 201, ok=False)
        assert "--event" in qasid("webhooks", "add", account, URL, "--event", "message.sent", ok=False)
        assert "--statuses" in qasid("webhooks", "add", account, URL, "--statuses", "some", ok=False)
        assert endpoint_count(db) == 0

    def test_an_unknown_account_is_an_error(self, settings, db):
        assert "no account" in qasid("webhooks", "add", "acc_nobody", URL, ok=False)
        assert "no account" in qasid("webhooks", "list", "acc_nobody", ok=False)
        assert endpoint_count(db) == 0

    def test_the_account_may_be_named(self, operator: Operator):
        operator.customer(name="Acme")
        endpoint_id, _ = add("Acme")
        assert endpoint_id in qasid("webhooks", "list", "Acme")


class TestEnableAndDisable:
    def test_disable_shows_the_reason_and_enable_clears_it(self, account):
        endpoint_id, _ = add(account)
        assert qasid("webhooks", "disable", endpoint_id).strip() == f"{endpoint_id} disabled"
        assert f"{endpoint_id}  disabled (disabled by request)  " in qasid("webhooks", "list", account)
        assert qasid("webhooks", "enable", endpoint_id).strip() == f"{endpoint_id} enabled"
        listed = qasid("webhooks", "list", account)
        assert f"{endpoint_id}  enabled  " in listed
        assert "disabled" not in listed.replace("webhook.disabled", "")

    def test_enabling_what_the_gateway_disabled_forgets_the_failures_and_sends_what_waited(self, account, db):
        endpoint_id, _ = add(account)
        waiting = event(db, account)
        later, since = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC) - timedelta(hours=2)
        with db.write() as conn:  # as the sender leaves an endpoint that kept failing
            conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(enabled=False, failures=8, failing_since=since,
                        disabled_reason="8 failed tries in a row since yesterday")
            )  # fmt: skip
            conn.execute(
                update(webhook_deliveries).where(webhook_deliveries.c.id == waiting).values(run_at=later)
            )
        listed = qasid("webhooks", "list", account)
        assert "disabled (8 failed tries in a row since yesterday)" in listed
        assert "  8 failures  " in listed
        qasid("webhooks", "enable", endpoint_id)
        assert f"{endpoint_id}  enabled  " in qasid("webhooks", "list", account)
        assert "  0 failures  " in qasid("webhooks", "list", account)
        assert delivery(db, waiting)["run_at"] <= datetime.now(UTC)

    def test_an_unknown_endpoint_is_an_error(self, settings):
        assert "no webhook endpoint" in qasid("webhooks", "enable", "whe_nothing", ok=False)
        assert "no webhook endpoint" in qasid("webhooks", "disable", "whe_nothing", ok=False)


class TestSet:
    def test_only_what_is_given_changes(self, account):
        endpoint_id, _ = add(account, URL, "--event", "message.status", "--description", "orders")
        shown = qasid(
            "webhooks", "set", endpoint_id, "--url", "https://new.example.com/h", "--statuses", "final"
        )
        assert shown.strip() == (
            f'{endpoint_id}  enabled  message.status  final  0 failures  https://new.example.com/h  "orders"'
        )
        assert qasid("webhooks", "list", account) == shown

    def test_events_are_replaced(self, account):
        endpoint_id, _ = add(account)
        qasid("webhooks", "set", endpoint_id, "--event", "inbound.message", "--event", "message.status")
        assert "  message.status,inbound.message  all  " in qasid("webhooks", "list", account)

    def test_a_refused_change_leaves_the_endpoint_as_it_was(self, account):
        endpoint_id, _ = add(account)
        before = qasid("webhooks", "list", account)
        assert "private" in qasid("webhooks", "set", endpoint_id, "--url", "http://192.168.1.5/", ok=False)
        assert "nothing to change" in qasid("webhooks", "set", endpoint_id, ok=False)
        assert "description" in qasid("webhooks", "set", endpoint_id, "--description", "x" * 201, ok=False)
        assert qasid("webhooks", "list", account) == before
        assert "no webhook endpoint" in qasid("webhooks", "set", "whe_nothing", "--url", URL, ok=False)


class TestRemove:
    def test_a_removed_endpoint_is_gone_and_what_waited_for_it_fails(self, account, db):
        endpoint_id, _ = add(account)
        waiting = event(db, account)
        assert qasid("webhooks", "remove", endpoint_id).strip() == f"{endpoint_id} removed"
        assert qasid("webhooks", "list", account) == ""
        [line] = qasid("webhooks", "deliveries", account).splitlines()
        assert line.startswith(waiting)
        assert "  failed  " in line
        assert line.endswith("the endpoint was deleted")
        assert "deleted" in qasid("webhooks", "replay", waiting, ok=False)
        assert delivery(db, waiting)["status"] == "failed"
        for command in ("remove", "enable", "rotate"):
            assert "no webhook endpoint" in qasid("webhooks", command, endpoint_id, ok=False)

    def test_removing_makes_room_for_another(self, account):
        endpoint_id, _ = add(account)
        qasid("webhooks", "remove", endpoint_id)
        again, _ = add(account)
        assert qasid("webhooks", "list", account).startswith(again)


class TestRotate:
    def test_the_new_secret_signs_from_now_on_and_the_old_one_no_longer(self, account, db):
        endpoint_id, old = add(account)
        output = qasid("webhooks", "rotate", endpoint_id)
        new = output.splitlines()[0]
        assert new.startswith("whsec_")
        assert new != old
        assert "shown only now" in output
        body = b'{"type":"message.status"}'
        headers = signed(sealed_secret(db, endpoint_id), body)
        assert Webhook(new).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, headers)

    def test_an_unknown_endpoint_is_an_error(self, settings):
        assert "no webhook endpoint" in qasid("webhooks", "rotate", "whe_nothing", ok=False)


class TestDeliveries:
    def test_newest_first_with_their_tries_and_last_error(self, account, db):
        add(account)
        first_subject, second_subject = ids.new_id("msg"), ids.new_id("msg")
        first = event(db, account, subject=first_subject, sequence=3)
        second = event(db, account, subject=second_subject, sequence=6)
        tried(db, first, Verdict.FAILED, latency_ms=12, status_code=500, response="try later")
        lines = qasid("webhooks", "deliveries", account).splitlines()
        assert [line.split()[0] for line in lines] == [second, first]
        assert re.search(rf"pending\s+1 try\s+message\.status\s+{first_subject}  #3  answered 500$", lines[1])
        assert re.search(rf"pending\s+0 tries\s+message\.status\s+{second_subject}  #6$", lines[0])

    def test_filters_and_limit(self, account, operator: Operator, db):
        endpoint_id, _ = add(account)
        subject = ids.new_id("msg")
        first = event(db, account, subject=subject)
        second = event(db, account)
        tried(db, second, Verdict.DELIVERED, latency_ms=3, status_code=204)

        def listed(*options: str) -> list[str]:
            return [
                line.split()[0] for line in qasid("webhooks", "deliveries", account, *options).splitlines()
            ]

        assert listed("--subject", subject) == [first]
        assert listed("--status", "delivered") == [second]
        assert listed("--status", "pending") == [first]
        assert listed("--endpoint", endpoint_id) == [second, first]
        assert listed("--endpoint", "whe_other") == []
        assert listed("--limit", "1") == [second]
        assert qasid("webhooks", "deliveries", operator.customer(name="other").account.id) == ""
        qasid("webhooks", "deliveries", account, "--status", "lost", ok=False)

    def test_show_delivery_has_the_body_and_every_try(self, account, db):
        endpoint_id, _ = add(account)
        subject = ids.new_id("msg")
        delivery_id = event(db, account, subject=subject, sequence=4)
        tried(db, delivery_id, Verdict.FAILED, latency_ms=12, status_code=500, response="try later")
        tried(db, delivery_id, Verdict.FAILED, latency_ms=3, error="ConnectError: connection refused")
        shown = qasid("webhooks", "show-delivery", delivery_id)
        event_id = delivery(db, delivery_id)["event_id"]
        assert f"webhook-id {event_id}" in shown
        assert f"subject:     {subject} (sequence 4)" in shown
        assert f"receiver:    endpoint {endpoint_id}" in shown
        assert "status:      pending, 2 tries, next try at " in shown
        assert "last error:  ConnectError: connection refused" in shown
        payload = json.loads(shown.split("payload:", 1)[1].split("\n", 1)[0])
        assert payload["type"] == "message.status"
        assert payload["data"] == {
            "id": subject,
            "status": "delivered",
            "to": "+9647700000001",
            "sequence": 4,
        }
        tries = shown.split("tries:\n", 1)[1].splitlines()
        assert len(tries) == 2
        assert re.search(r"  500\s+12 ms$", tries[0])
        assert re.search(r"  no answer\s+3 ms  ConnectError: connection refused$", tries[1])

    def test_an_unknown_delivery_is_an_error(self, settings):
        assert "no webhook delivery" in qasid("webhooks", "show-delivery", "whd_nothing", ok=False)


class TestReplay:
    def test_a_failed_delivery_is_sent_again_with_the_same_webhook_id(self, account, db):
        add(account)
        delivery_id = event(db, account)
        tried(db, delivery_id, Verdict.REFUSED, latency_ms=1, error="refused: 10.0.0.1 is a private address")
        before = delivery(db, delivery_id)
        assert before["status"] == "failed"
        output = qasid("webhooks", "replay", delivery_id)
        assert (
            output.strip()
            == f"{delivery_id} will be sent again with the same webhook-id ({before['event_id']})"
        )
        after = delivery(db, delivery_id)
        assert (after["status"], after["event_id"], after["payload"]) == (
            "pending", before["event_id"], before["payload"]
        )  # fmt: skip
        assert after["run_at"] <= datetime.now(UTC)
        assert "1 try" in qasid("webhooks", "show-delivery", delivery_id)  # the try is kept

    def test_a_replay_for_a_disabled_endpoint_says_it_waits(self, account, db):
        endpoint_id, _ = add(account)
        delivery_id = event(db, account)
        qasid("webhooks", "disable", endpoint_id)
        assert f"waits until `qasid webhooks enable {endpoint_id}`" in qasid(
            "webhooks", "replay", delivery_id
        )

    def test_an_unknown_delivery_is_an_error_and_changes_nothing(self, account, db):
        add(account)
        delivery_id = event(db, account)
        tried(db, delivery_id, Verdict.DELIVERED, latency_ms=2, status_code=200)
        result = runner.invoke(app, ["webhooks", "replay", "whd_nothing"])
        assert result.exit_code == 1
        assert result.output.startswith("error: no webhook delivery 'whd_nothing'")
        assert delivery(db, delivery_id)["status"] == "delivered"


class TestWithTheGateway:
    async def test_a_receiver_checks_calls_with_the_printed_secret_and_knows_a_replay(
        self, fast_settings: Settings, account, db, loopback
    ):
        hooks = {"webhook_allowed_networks": "127.0.0.0/8", "webhook_retry_base_seconds": 0.05}
        gateway = create_app(fast_settings.model_copy(update=hooks), role="serve")
        async with Receiver() as receiver, LifespanManager(gateway):
            endpoint_id, secret = add(account, receiver.url)
            delivery_id = event(db, account)
            await wait_for(lambda: len(receiver.calls) == 1)
            first = receiver.calls[0]
            assert verified(secret, first)["type"] == "message.status"
            await wait_for(lambda: delivery(db, delivery_id)["status"] == "delivered")
            qasid("webhooks", "replay", delivery_id)
            await wait_for(lambda: len(receiver.calls) == 2)
            again = receiver.calls[1]
            assert again.headers["webhook-id"] == first.headers["webhook-id"]
            assert again.body == first.body
            await wait_for(lambda: delivery(db, delivery_id)["status"] == "delivered")
            rotated = qasid("webhooks", "rotate", endpoint_id).splitlines()[0]
            qasid("webhooks", "replay", delivery_id)
            await wait_for(lambda: len(receiver.calls) == 3)
        assert verified(rotated, receiver.calls[2])["data"]["sequence"] == 3
        with pytest.raises(WebhookVerificationError):
            verified(secret, receiver.calls[2])
        assert "delivered, 3 tries" in qasid("webhooks", "show-delivery", delivery_id)
