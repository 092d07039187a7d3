"""The SMPP session against our scripted SMSC: binding, the window, the rate, throttling, lost and
silent links, and what the SMSC asks of us."""

from __future__ import annotations

import asyncio
import itertools
import struct

import pytest

from qasid.channels.smpp import pdu as P
from qasid.channels.smpp.session import BindRefused, Endpoint, LinkError, Session, Timing
from tests.smsc.scripted import ScriptedSmsc
from tests.support import wait_for


def bind(password: str = "secret", command: int = P.Command.BIND_TRANSCEIVER) -> P.Bind:  # noqa: S107 - the test SMSC's
    return P.Bind(command_id=command, system_id="qasid", password=password)


def submit(to: str = "9647701234567") -> P.ShortMessage:
    return P.ShortMessage(command_id=P.Command.SUBMIT_SM, destination_addr=to, short_message=b"hi")


async def opened(smsc: ScriptedSmsc, **timing: float) -> Session:
    session = Session(Endpoint("127.0.0.1", smsc.port), bind(), Timing(**timing))  # type: ignore[arg-type]
    await session.open()
    return session


class TestBinding:
    async def test_binds_and_learns_the_smscs_system_id(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            assert session.bound
            assert session.system_id == "scripted"
            await session.close()

    async def test_a_refused_bind_says_why_and_leaves_no_link(self):
        async with ScriptedSmsc() as smsc:
            session = Session(Endpoint("127.0.0.1", smsc.port), bind("wrong"))
            with pytest.raises(BindRefused) as refused:
                await session.open()
            assert refused.value.status == P.Status.ESME_RBINDFAIL
            assert not session.bound

    async def test_nobody_listening_is_an_os_error(self, unused_tcp_port):
        with pytest.raises(OSError, match=r"[Cc]onnect"):
            await Session(Endpoint("127.0.0.1", unused_tcp_port), bind()).open()

    async def test_closing_unbinds(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            await session.close()
            assert smsc.requests(P.Command.UNBIND)
            assert session.lost.is_set()


class TestRequests:
    async def test_a_submit_gets_its_message_id(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            response = await session.request(submit())
            assert response.status == 0
            assert isinstance(response, P.MessageIdResp)
            assert response.message_id == "1000"
            assert smsc.submits[0].destination_addr == "9647701234567"
            await session.close()

    async def test_an_error_status_is_returned_not_raised(self):
        async with ScriptedSmsc() as smsc:
            smsc.answer = lambda _: P.Status.ESME_RINVDSTADR
            session = await opened(smsc)
            assert (await session.request(submit())).status == P.Status.ESME_RINVDSTADR
            await session.close()

    async def test_no_more_than_the_window_is_outstanding(self):
        async with ScriptedSmsc() as smsc:
            smsc.response_delay = 0.02
            session = await opened(smsc, window=3)
            responses = await asyncio.gather(*(session.request(submit()) for _ in range(12)))
            assert all(r.status == 0 for r in responses)
            assert smsc.max_outstanding == 3
            await session.close()

    async def test_the_rate_cap_spaces_the_sends(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc, window=50, tps=100)
            await asyncio.gather(*(session.request(submit()) for _ in range(10)))
            arrivals = [r.at for r in smsc.received if r.pdu.command_id == P.Command.SUBMIT_SM]
            gaps = [b - a for a, b in itertools.pairwise(arrivals)]
            assert min(gaps) >= 0.0095  # 1/100 s apart, less the network's jitter
            await session.close()

    async def test_what_is_sent_in_one_turn_of_the_loop_goes_out_in_one_write(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc, window=20)
            assert session._writer is not None
            writes: list[bytes] = []
            write = session._writer.write
            session._writer.write = lambda data: (writes.append(data), write(data))[1]  # type: ignore[method-assign]
            numbers = [f"96477012345{i:02}" for i in range(10)]
            responses = await asyncio.gather(*(session.request(submit(number)) for number in numbers))
            assert [r.status for r in responses] == [0] * 10
            assert len(writes) == 1  # ten submit_sm, one system call
            assert [s.destination_addr for s in smsc.submits] == numbers
            await session.close()

    @pytest.mark.parametrize("status", [P.Status.ESME_RTHROTTLED, P.Status.ESME_RMSGQFUL])
    async def test_throttling_pauses_the_next_sends(self, status):
        async with ScriptedSmsc() as smsc:
            answers = iter([status])
            smsc.answer = lambda _: next(answers, P.Status.ESME_ROK)
            session = await opened(smsc, throttle_pause=0.2)
            assert (await session.request(submit())).status == status
            assert (await session.request(submit())).status == 0
            first, second = (r.at for r in smsc.received if r.pdu.command_id == P.Command.SUBMIT_SM)
            assert second - first >= 0.19
            await session.close()


class TestLostLinks:
    async def test_a_dropped_link_fails_what_was_outstanding(self):
        async with ScriptedSmsc() as smsc:
            smsc.response_delay = 10
            session = await opened(smsc)
            outstanding = [asyncio.create_task(session.request(submit())) for _ in range(3)]
            await smsc.wait_for(lambda: len(smsc.submits) == 3)
            await smsc.drop()
            for task in outstanding:
                with pytest.raises(LinkError):
                    await task
            assert session.lost.is_set()
            with pytest.raises(LinkError):
                await session.request(submit())

    async def test_a_missing_response_is_a_link_error(self):
        async with ScriptedSmsc() as smsc:
            smsc.response_delay = 10
            session = await opened(smsc, response_timeout=0.1)
            with pytest.raises(LinkError, match="no response"):
                await session.request(submit())
            await session.close()

    async def test_a_silent_link_is_dropped_by_the_keep_alive(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc, enquire_link_seconds=0.05, response_timeout=0.1)
            await smsc.wait_for(lambda: len(smsc.requests(P.Command.ENQUIRE_LINK)) >= 2)
            assert not session.lost.is_set()  # answered so far
            smsc.silent = True
            await asyncio.wait_for(session.lost.wait(), 2)

    async def test_the_smsc_unbinding_ends_the_session(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            await smsc.send(P.Empty(command_id=P.Command.UNBIND))
            await asyncio.wait_for(session.lost.wait(), 2)
            assert any(r.command_id == P.Command.UNBIND_RESP for r in smsc.responses)


class TestWhatTheSmscSends:
    async def test_a_deliver_sm_is_acknowledged_with_the_handlers_status(self):
        seen: list[P.Pdu] = []

        async def handle(pdus: list[P.Pdu]) -> list[int]:
            seen.extend(pdus)
            return [P.Status.ESME_ROK] * len(pdus)

        async with ScriptedSmsc() as smsc:
            session = Session(Endpoint("127.0.0.1", smsc.port), bind(), on_requests=handle)
            await session.open()
            await smsc.receipt("1a2b")
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].command_id == P.Command.DELIVER_SM_RESP
            assert smsc.responses[0].status == 0
            assert isinstance(seen[0], P.ShortMessage)
            assert seen[0].esm_class == 0x04
            await session.close()

    async def test_a_handler_that_fails_asks_the_smsc_to_try_again(self):
        async def broken(_: list[P.Pdu]) -> list[int]:
            raise RuntimeError("the database is away")

        async with ScriptedSmsc() as smsc:
            session = Session(Endpoint("127.0.0.1", smsc.port), bind(), on_requests=broken)
            await session.open()
            await smsc.receipt("1a2b")
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].status == P.Status.ESME_RX_T_APPN
            await session.close()

    async def test_what_arrives_while_a_batch_is_recorded_is_handed_over_together_in_order(self):
        calls: list[list[str]] = []
        release = asyncio.Event()

        async def slow(pdus: list[P.Pdu]) -> list[int]:
            calls.append([P.tlv_text(p.tlvs, P.Tag.RECEIPTED_MESSAGE_ID) or "" for p in pdus])  # type: ignore[attr-defined]
            await release.wait()
            return [P.Status.ESME_ROK] * len(pdus)

        async with ScriptedSmsc() as smsc:
            session = Session(Endpoint("127.0.0.1", smsc.port), bind(), on_requests=slow)
            await session.open()
            await smsc.receipt("a")
            await wait_for(lambda: len(calls) == 1)
            for message_id in ("b", "c"):
                await smsc.receipt(message_id)
            await asyncio.sleep(0.05)  # b and c are in, and wait while a is being recorded
            release.set()
            await smsc.wait_for(lambda: len(smsc.responses) == 3)
            assert calls == [["a"], ["b", "c"]]
            assert [r.status for r in smsc.responses] == [0, 0, 0]
            assert [r.sequence for r in smsc.responses] == [1, 2, 3]  # the scripted SMSC's own numbering
            await session.close()

    async def test_a_handler_that_miscounts_asks_the_smsc_to_try_again(self):
        async def miscounting(_: list[P.Pdu]) -> list[int]:
            return []

        async with ScriptedSmsc() as smsc:
            session = Session(Endpoint("127.0.0.1", smsc.port), bind(), on_requests=miscounting)
            await session.open()
            await smsc.receipt("1a2b")
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].status == P.Status.ESME_RX_T_APPN
            await session.close()

    async def test_enquire_link_is_answered(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            await smsc.send(P.Empty(command_id=P.Command.ENQUIRE_LINK))
            await smsc.wait_for(lambda: bool(smsc.responses))
            assert smsc.responses[0].command_id == P.Command.ENQUIRE_LINK_RESP
            await session.close()

    async def test_an_unsupported_command_gets_a_generic_nack(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            await smsc.send(P.Empty(command_id=P.Command.QUERY_SM))  # we never answer queries
            await smsc.wait_for(lambda: bool(smsc.responses))
            nack = smsc.responses[0]
            assert (nack.command_id, nack.status) == (P.Command.GENERIC_NACK, P.Status.ESME_RINVCMDID)
            await session.close()

    async def test_a_malformed_pdu_gets_a_generic_nack_and_the_session_goes_on(self):
        async with ScriptedSmsc() as smsc:
            session = await opened(smsc)
            await smsc.send_raw(struct.pack(">IIII", 20, P.Command.DELIVER_SM, 0, 77) + b"\x00\x05\x00\x41")
            await smsc.wait_for(lambda: bool(smsc.responses))
            nack = smsc.responses[0]
            assert (nack.command_id, nack.status, nack.sequence) == (
                P.Command.GENERIC_NACK, P.Status.ESME_RINVMSGLEN, 77,
            )  # fmt: skip
            assert (await session.request(submit())).status == 0
            await session.close()
