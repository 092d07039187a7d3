"""The whole gateway sending through the SMPP connector: to the node-smpp SMSC (an independent
implementation) and to our scripted SMSC (for what node-smpp cannot be made to do)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

import trustme
from sqlalchemy import select

from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.connector import SmppConnector
from qasid.models import inbound_messages, inbound_parts
from qasid.routing import service as routing
from tests.integration.test_dispatch import final, send
from tests.smsc.node_smsc import NodeSmsc
from tests.smsc.scripted import ScriptedSmsc
from tests.support import vault, wait_for

ZAIN = "+9647812345670"
ZAIN_UNDELIVERED = "+9647812345673"  # node SMSC: a number ending in 3 ends UNDELIV
FAST_LINK = {"enquire_link_seconds": 5, "response_timeout": 2, "reconnect_min_seconds": 0.05,
             "reconnect_max_seconds": 0.2, "throttle_pause_seconds": 0.05}  # fmt: skip


def add_smpp(db, port: int, *, route: bool = True, **config: object) -> str:
    """An SMPP connector "smsc" to 127.0.0.1:``port`` (and a route for every SMS); its id."""
    settings = {"host": "127.0.0.1", "port": port, "system_id": "qasid", "password": "secret", **FAST_LINK,
                **config}  # fmt: skip
    now = datetime.now(UTC)
    with db.write() as conn:
        record = routing.add_connector(conn, "smpp", "smsc", settings, now, vault=vault())
        if route:
            routing.add_route(conn, record.id, now)
    return record.id


async def smpp_route(app, db, port: int, **config: object) -> SmppConnector:
    """An SMPP connector to 127.0.0.1:``port`` routing every SMS, once the gateway has bound it."""
    connector_id = add_smpp(db, port, **config)
    links = app.state.services.worker.links
    await wait_for(lambda: connector_id in links.running and links.running[connector_id][1].ready)
    connector = links.running[connector_id][1]
    assert isinstance(connector, SmppConnector)
    return connector


class TestAgainstNodeSmpp:
    async def test_a_message_goes_out_as_the_spec_says_and_its_receipt_delivers_it(
        self, gateway, operator, db
    ):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            submit = await smsc.next_event("submit_sm")
            assert (submit["source_addr"], submit["source_addr_ton"], submit["source_addr_npi"]) == (
                "Qasid",
                5,
                0,
            )
            assert (submit["destination_addr"], submit["dest_addr_ton"], submit["dest_addr_npi"]) == (
                ZAIN[1:], 1, 1,
            )  # fmt: skip
            assert submit["data_coding"] == 0
            assert bytes.fromhex(submit["short_message_hex"]) == b"Your code is 4821"
            assert submit["registered_delivery"] == 1
            assert submit["validity_period"].endswith("000+")
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"
            await smsc.next_event("deliver_sm_resp", type="receipt", command_status=0)

    async def test_an_undelivered_receipt_ends_the_message_undelivered(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN_UNDELIVERED)
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "undelivered"
            assert message["error_code"] == "001"

    async def test_a_long_message_goes_in_parts_with_a_header_and_every_parts_receipt_counts(
        self, gateway, operator, db
    ):
        http, app = gateway
        customer = operator.customer()
        text = "A" * 200
        async with NodeSmsc(id_format="hex") as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN, text=text)
            first = await smsc.next_event("submit_sm")
            second = await smsc.next_event("submit_sm")
            headers = [bytes.fromhex(s["short_message_hex"])[:6] for s in (first, second)]
            assert [h[:3] for h in headers] == [b"\x05\x00\x03"] * 2
            assert headers[0][3] == headers[1][3]  # one reference
            assert [(h[4], h[5]) for h in headers] == [(2, 1), (2, 2)]
            assert first["esm_class"] & 0x40
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"

    async def test_arabic_goes_as_ucs2(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            await send(http, customer, ZAIN, text="رمز التحقق 4821")
            submit = await smsc.next_event("submit_sm")
            assert submit["data_coding"] == 8
            assert bytes.fromhex(submit["short_message_hex"]).decode("utf-16-be") == "رمز التحقق 4821"

    async def test_a_numeric_sender_goes_international(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer(senders_approved=("+9647700000099",))
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            await send(http, customer, ZAIN, sender="+9647700000099")
            submit = await smsc.next_event("submit_sm")
            assert (submit["source_addr"], submit["source_addr_ton"], submit["source_addr_npi"]) == (
                "9647700000099", 1, 1,
            )  # fmt: skip

    async def test_an_inbound_message_is_stored(self, gateway, operator, db):
        _, app = gateway
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            await smsc.send_mo("+9647801112233", "4455", "STOP")
            await smsc.next_event("deliver_sm_resp", type="mo", command_status=0)
            with db.read() as conn:
                row = conn.execute(select(inbound_messages)).one()
            assert (row.sender, row.recipient, row.body, row.parts) == ("+9647801112233", "4455", "STOP", 1)

    async def test_after_the_link_drops_it_binds_again_and_sends(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            connector = await smpp_route(app, db, smsc.port)
            await smsc.drop()
            await wait_for(lambda: len([e for e in smsc.events if e["event"] == "bind"]) >= 2)
            await wait_for(lambda: connector.ready)
            sent = await send(http, customer, ZAIN)
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"


class TestAgainstTheScriptedSmsc:
    async def test_throttling_slows_down_and_the_message_still_goes(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            answers = iter([P.Status.ESME_RTHROTTLED, P.Status.ESME_RMSGQFUL])
            smsc.answer = lambda _: next(answers, P.Status.ESME_ROK)
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.issued) == 1)
            await smsc.receipt(smsc.issued[0])
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"
            assert len(smsc.submits) == 3

    async def test_a_permanent_refusal_fails_the_message_with_the_code_and_refunds_it(
        self, gateway, operator, db
    ):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            smsc.answer = lambda _: P.Status.ESME_RINVDSTADR
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            message = await final(http, customer, sent["messages"][0]["id"])
            assert (message["status"], message["error_code"]) == ("failed", "ESME_RINVDSTADR")
            assert operator.ledger_sum(customer.account.id) == 100_000
            assert len(smsc.submits) == 1

    async def test_what_was_in_flight_when_the_link_dropped_is_sent_again(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            smsc.response_delay = 30
            connector = await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.submits) == 1)
            smsc.response_delay = 0
            await smsc.drop()
            await smsc.wait_for(lambda: len(smsc.issued) == 1, within=10)
            assert connector.ready
            await smsc.receipt(smsc.issued[0])
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"
            assert len(smsc.submits) == 2

    async def test_a_receipt_before_the_submit_response_is_held_and_applied(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            smsc.response_delay = 0.3
            smsc.message_id = lambda n: f"early-{n}"
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.submits) == 1)
            await smsc.receipt("early-4096")  # the id the response will carry, before the response
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"

    async def test_late_duplicate_and_contrary_receipts_change_nothing(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.issued) == 1)
            for stat in ("DELIVRD", "DELIVRD", "UNDELIV", "ENROUTE"):
                await smsc.receipt(smsc.issued[0], stat)
            await smsc.wait_for(lambda: len(smsc.responses) == 4)
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"
            assert all(r.status == 0 for r in smsc.responses)

    async def test_hex_responses_match_decimal_receipts(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            smsc.message_id = lambda n: f"{n:08X}"  # e.g. 00001000
            await smpp_route(app, db, smsc.port, submit_id="hex", receipt_id="dec")
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.issued) == 1)
            decimal = str(int(smsc.issued[0], 16))
            await smsc.receipt(decimal, tlvs=False)  # the Appendix B text alone, id in decimal
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "delivered"

    async def test_per_part_receipts_aggregate(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN, text="B" * 300)
            await smsc.wait_for(lambda: len(smsc.issued) == 2)
            await smsc.receipt(smsc.issued[1], "DELIVRD")
            await smsc.receipt(smsc.issued[0], "UNDELIV", "001")
            message = await final(http, customer, sent["messages"][0]["id"])
            assert message["status"] == "partially_delivered"

    async def test_a_receipt_the_database_cannot_take_is_refused_for_a_later_retry(
        self, gateway, operator, db
    ):
        _, app = gateway
        async with ScriptedSmsc() as smsc:
            connector = await smpp_route(app, db, smsc.port)

            async def away(_reports):
                raise RuntimeError("the database is away")

            connector.reports.deliver = away  # type: ignore[method-assign]
            await smsc.receipt("whatever")
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].status == P.Status.ESME_RX_T_APPN
            await asyncio.sleep(0)


class TestLinks:
    async def test_tls_with_the_smscs_authority(self, gateway, operator, db, tmp_path):
        http, app = gateway
        customer = operator.customer()
        authority = trustme.CA()
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(server)
        ca_file = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        async with ScriptedSmsc(tls=server) as smsc:
            await smpp_route(app, db, smsc.port, tls=True, tls_ca=str(ca_file))
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.issued) == 1)
            await smsc.receipt(smsc.issued[0])
            assert (await final(http, customer, sent["messages"][0]["id"]))["status"] == "delivered"

    async def test_tls_refuses_an_smsc_it_cannot_trust(self, gateway, operator, db):
        _, app = gateway
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(server)
        async with ScriptedSmsc(tls=server) as smsc:
            connector_id = add_smpp(db, smsc.port, route=False, tls=True)
            links = app.state.services.worker.links
            await wait_for(lambda: connector_id in links.running)
            await asyncio.sleep(0.3)  # several bind attempts
            assert not links.running[connector_id][1].ready
            assert not smsc.received  # not one PDU went to it

    async def test_a_transmitter_and_a_receiver_instead_of_a_transceiver(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            await smpp_route(app, db, smsc.port, bind="transmitter+receiver")
            commands = {(await smsc.next_event("bind"))["command"] for _ in range(2)}
            assert commands == {"bind_transmitter", "bind_receiver"}
            sent = await send(http, customer, ZAIN)
            assert (await final(http, customer, sent["messages"][0]["id"]))["status"] == "delivered"

    async def test_an_smsc_that_drops_every_bind_is_not_hammered(self, gateway, db):
        async with ScriptedSmsc() as smsc:
            smsc.drop_after_bind = True
            add_smpp(db, smsc.port, route=False, reconnect_min_seconds=0.05, reconnect_max_seconds=10)
            await smsc.wait_for(lambda: len(smsc.requests(P.Command.BIND_TRANSCEIVER)) >= 1)
            await asyncio.sleep(1.0)
            # waits of 0.05, 0.1, 0.2, 0.4 s (halved at most by jitter) fit at most 6 binds in 1 s
            assert len(smsc.requests(P.Command.BIND_TRANSCEIVER)) <= 6

    async def test_a_wrong_password_fixed_in_place_binds_without_a_restart(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            connector_id = add_smpp(db, smsc.port, password="wrong")
            await smsc.next_event("bind_refused")
            with db.write() as conn:
                routing.configure_connector(conn, "smsc", {"password": "secret"}, datetime.now(UTC),
                                            vault=vault())  # fmt: skip
            links = app.state.services.worker.links
            await wait_for(lambda: connector_id in links.running and links.running[connector_id][1].ready)
            sent = await send(http, customer, ZAIN)
            assert (await final(http, customer, sent["messages"][0]["id"]))["status"] == "delivered"

    async def test_stopping_unbinds_politely(self, gateway, operator, db):
        _, app = gateway
        async with NodeSmsc() as smsc:
            connector = await smpp_route(app, db, smsc.port, binds=2)
            await wait_for(lambda: all(link.session is not None for link in connector.links))
            await connector.stop()
            unbinds = [await smsc.next_event("unbind") for _ in range(2)]
            assert len({u["session"] for u in unbinds}) == 2
            assert not connector.ready

    async def test_several_binds_share_the_load(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with NodeSmsc() as smsc:
            connector = await smpp_route(app, db, smsc.port, binds=3)
            await wait_for(lambda: all(link.session is not None for link in connector.links))
            sent = await send(http, customer, [f"+964781234{n:03d}0" for n in range(30)])
            for message in sent["messages"]:
                assert (await final(http, customer, message["id"]))["status"] == "delivered"
            sessions = {e["session"] for e in smsc.events if e["event"] == "submit_sm"}
            assert len(sessions) == 3


class TestInbound:
    async def test_a_concatenated_inbound_message_is_stored_once_whole(self, gateway, operator, db):
        _, app = gateway
        async with ScriptedSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            parts = [(2, b" world"), (1, b"hello"), (2, b" world")]  # out of order, and one sent twice
            for sequence, text in parts:
                header = bytes([5, 0, 3, 0x42, 2, sequence])
                mo = P.ShortMessage(
                    command_id=P.Command.DELIVER_SM, esm_class=0x40, source_addr="9647801112233",
                    source_addr_ton=1, destination_addr="4455", short_message=header + text,
                )  # fmt: skip
                await smsc.send(mo)
            await smsc.wait_for(lambda: len(smsc.responses) == 3)
            assert all(r.status == 0 for r in smsc.responses)
            with db.read() as conn:
                rows = conn.execute(select(inbound_messages)).all()
                waiting = conn.execute(select(inbound_parts)).all()
            assert [(r.sender, r.recipient, r.body, r.parts) for r in rows] == [
                ("+9647801112233", "4455", "hello world", 2)
            ]
            assert waiting == []

    async def test_a_receipt_by_data_sm(self, gateway, operator, db):
        http, app = gateway
        customer = operator.customer()
        async with ScriptedSmsc() as smsc:
            await smpp_route(app, db, smsc.port)
            sent = await send(http, customer, ZAIN)
            await smsc.wait_for(lambda: len(smsc.issued) == 1)
            tlvs = {
                P.Tag.RECEIPTED_MESSAGE_ID: P.text_tlv(smsc.issued[0]),
                P.Tag.MESSAGE_STATE: P.int_tlv(2, 1),
            }
            await smsc.send(P.DataSm(esm_class=0x04, tlvs=tlvs))
            assert (await final(http, customer, sent["messages"][0]["id"]))["status"] == "delivered"
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].command_id == P.Command.DATA_SM_RESP
