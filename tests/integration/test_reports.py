"""Delivery reports: late, duplicate, out-of-order, per part, and early ones."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from qasid.api.app import create_app
from qasid.channels.base import DeliveryReport
from qasid.domain.states import MessageStatus, from_smpp_stat
from qasid.messages.dispatch import ClaimDispatch, RecordDispatch, Sent
from qasid.messages.reports import ApplyReports
from qasid.models import delivery_reports, message_parts
from tests.support import Operator, running_simulator, wait_for

SILENT = "+9647700000004"


def receipt(connector_id: str, carrier_id: str, stat: str) -> DeliveryReport:
    raw = f"id:{carrier_id} sub:001 dlvrd:000 submit date:2611220000 done date:2611220001 stat:{stat} err:000"
    return DeliveryReport(connector_id, carrier_id, from_smpp_stat(stat), None, raw, datetime.now(UTC))


async def sent_message(
    http, app, db, operator: Operator, *, text: str = "hello"
) -> tuple[dict, str, list[str]]:
    """A message the simulator took and will never report on; its connector and carrier ids."""
    connector_id = await running_simulator(app, db)
    customer = operator.customer(balance=1000, price=20)
    body = {"to": SILENT, "text": text, "sender": "Qasid"}
    message_id = (await http.post("/v1/messages", json=body, headers=customer.headers)).json()["messages"][0][
        "id"
    ]

    def carrier_ids():
        with db.read() as conn:
            query = select(message_parts.c.carrier_id).where(message_parts.c.message_id == message_id)
            return list(conn.execute(query.order_by(message_parts.c.part)).scalars())

    ids = await wait_for(carrier_ids)
    return {"id": message_id, "customer": customer}, connector_id, ids


async def get(http, message) -> dict:
    return (await http.get(f"/v1/messages/{message['id']}", headers=message["customer"].headers)).json()


def stored_reports(db, message_id: str) -> int:
    with db.read() as conn:
        query = (
            select(func.count())
            .select_from(delivery_reports)
            .where(delivery_reports.c.message_id == message_id)
        )
        return int(conn.execute(query).scalar_one())


class TestOrder:
    async def test_a_late_report_never_moves_a_message_back(self, gateway, operator, db):
        http, app = gateway
        message, connector, [carrier] = await sent_message(http, app, db, operator)
        sink = app.state.services.worker.sink
        await sink.deliver([receipt(connector, carrier, "DELIVRD")])
        await sink.deliver([receipt(connector, carrier, "ENROUTE")])
        got = await get(http, message)
        assert got["status"] == "delivered"
        assert [h["status"] for h in got["history"]] == ["accepted", "sent", "delivered"]
        assert stored_reports(db, message["id"]) == 2  # both kept, as they arrived

    async def test_a_duplicate_report_is_kept_but_changes_nothing(self, gateway, operator, db):
        http, app = gateway
        message, connector, [carrier] = await sent_message(http, app, db, operator)
        sink = app.state.services.worker.sink
        await sink.deliver([receipt(connector, carrier, "REJECTD")])
        await sink.deliver([receipt(connector, carrier, "REJECTD")])
        got = await get(http, message)
        assert [h["status"] for h in got["history"]] == ["accepted", "sent", "rejected"]
        assert operator.account(message["customer"].account.id).balance == 1000  # refunded once
        assert operator.ledger_sum(message["customer"].account.id) == 1000

    async def test_reports_in_one_batch_apply_in_order(self, gateway, operator, db):
        http, app = gateway
        message, connector, [carrier] = await sent_message(http, app, db, operator)
        await app.state.services.worker.sink.deliver(
            [receipt(connector, carrier, "ACCEPTD"), receipt(connector, carrier, "UNDELIV")]
        )
        assert (await get(http, message))["status"] == "undelivered"

    async def test_a_report_for_an_unknown_part_is_kept_unmatched(self, gateway, operator, db):
        _, app = gateway
        connector = await running_simulator(app, db)
        await app.state.services.worker.sink.deliver([receipt(connector, "nobody-sent-this", "DELIVRD")])
        with db.read() as conn:
            row = conn.execute(select(delivery_reports)).mappings().one()
        assert (row["carrier_id"], row["message_id"]) == ("nobody-sent-this", None)


class TestParts:
    async def test_some_parts_delivered_is_partially_delivered_and_charged(self, gateway, operator, db):
        http, app = gateway
        message, connector, carriers = await sent_message(http, app, db, operator, text="y" * 200)
        assert len(carriers) == 2
        sink = app.state.services.worker.sink
        await sink.deliver([receipt(connector, carriers[0], "DELIVRD")])
        assert (await get(http, message))["status"] == "sent"  # one part still out
        await sink.deliver([receipt(connector, carriers[1], "UNDELIV")])
        assert (await get(http, message))["status"] == "partially_delivered"
        assert operator.account(message["customer"].account.id).balance == 1000 - 40

    async def test_every_part_rejected_is_rejected_and_refunded(self, gateway, operator, db):
        http, app = gateway
        message, connector, carriers = await sent_message(http, app, db, operator, text="y" * 200)
        await app.state.services.worker.sink.deliver([receipt(connector, c, "REJECTD") for c in carriers])
        assert (await get(http, message))["status"] == "rejected"
        assert operator.account(message["customer"].account.id).balance == 1000


class TestEarlyReports:
    async def test_a_report_that_beats_its_submit_record_is_applied_when_the_record_is_written(
        self, settings, operator: Operator
    ):
        app = create_app(settings, role="api")  # no dispatcher: this test plays it
        customer = operator.customer(balance=1000, price=20)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            body = {"to": "+9647701234567", "text": "hello", "sender": "Qasid"}
            message_id = (await http.post("/v1/messages", json=body, headers=customer.headers)).json()[
                "messages"
            ][0]["id"]
            writer = app.state.services.writer
            [claimed] = await writer.submit(ClaimDispatch("wrk_test", 10, datetime.now(UTC)))
            early = receipt("con_x", "c-1", "DELIVRD")
            await writer.submit(ApplyReports([early]))  # the carrier answered first
            sent = Sent(claimed.job.id, message_id, "con_x", "x", ("c-1",), datetime.now(UTC))
            await writer.submit(RecordDispatch(sent, datetime.now(UTC)))
            message = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
        assert message["status"] == MessageStatus.DELIVERED
        assert [h["status"] for h in message["history"]] == ["accepted", "sent", "delivered"]
