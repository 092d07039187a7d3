"""Verifications (OTP) through the whole gateway: codes sent by SMS through the simulator, checked,
canceled, resent and searched, with every limit answered by its own error."""

from __future__ import annotations

import asyncio
import re
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import func, select, update

from qasid.api.app import create_app
from qasid.db.bulk import bulk_insert
from qasid.models import batches, simulator_inbox, verification_tallies, verifications
from qasid.otp import repository as otp_repository
from qasid.otp.repository import COLUMNS, VerificationRepository, count_pending
from tests.integration.test_cli import qasid
from tests.support import Customer, Operator, running_simulator, wait_for

NUMBER = "+9647700000001"  # the simulator delivers it


async def create(http, customer: Customer, to: str = NUMBER, status: int = 201, **extra) -> dict:
    response = await http.post(
        "/v1/verifications", json={"to": to, "sender": "Qasid", **extra}, headers=customer.headers
    )
    assert response.status_code == status, response.text
    return response.json()


async def check(http, customer: Customer, verification_id: str, code: str, status: int = 200) -> dict:
    response = await http.post(
        f"/v1/verifications/{verification_id}/check", json={"code": code}, headers=customer.headers
    )
    assert response.status_code == status, response.text
    return response.json()


def texts_sent(db, message_ids: list[str]) -> list[str]:
    """What the phone got, a text per message (its parts joined), in the order they were sent."""
    with db.read() as conn:
        query = select(simulator_inbox.c.message_id, simulator_inbox.c.body).where(
            simulator_inbox.c.message_id.in_(message_ids)
        )
        rows = conn.execute(query.order_by(simulator_inbox.c.id)).all()
    texts: dict[str, str] = {}
    for message_id, body in rows:
        texts[message_id] = texts.get(message_id, "") + body
    return list(texts.values())


async def codes_received(http, db, customer: Customer, verification_id: str, count: int = 1) -> list[str]:
    """The codes the phone got, read from the simulator's inbox once ``count`` texts arrived."""

    async def arrived():
        detail = (await http.get(f"/v1/verifications/{verification_id}", headers=customer.headers)).json()
        found = texts_sent(db, [s["message_id"] for s in detail["send_history"]])
        return found if len(found) >= count else None

    return [re.search(r"\b(\d{4,10})\b", text)[1] for text in await wait_for(arrived)]


@pytest.fixture
async def sms(gateway, db):
    """The gateway with a simulator routing every SMS."""
    http, app = gateway
    await running_simulator(app, db)
    return http


def gateway_with(fast_settings, **limits):
    app = create_app(fast_settings.model_copy(update=limits), role="serve")
    return app, LifespanManager(app)


class TestTheCode:
    async def test_a_code_goes_out_by_sms_is_approved_once_and_is_never_shown_or_stored(
        self, sms, db, operator: Operator
    ):
        customer = operator.customer(balance=1000, price=20)
        created = await create(sms, customer)
        assert created["status"] == "pending"
        assert created["channel"] == "sms"
        assert created["code"] is None
        assert created["attempts_left"] == 3
        [code] = await codes_received(sms, db, customer, created["id"])
        assert len(code) == 6
        detail = (await sms.get(f"/v1/verifications/{created['id']}", headers=customer.headers)).json()
        message = (
            await sms.get(f"/v1/messages/{detail['send_history'][0]['message_id']}", headers=customer.headers)
        ).json()
        assert "{code}" in message["text"]
        assert code not in message["text"]
        with db.read() as conn:
            row = (
                conn.execute(select(verifications).where(verifications.c.id == created["id"]))
                .mappings()
                .one()
            )
            bodies = list(
                conn.execute(
                    select(batches.c.body).where(batches.c.verification_id == created["id"])
                ).scalars()
            )
        assert code not in {str(value) for value in row.values()}
        assert all(code not in body for body in bodies)
        assert operator.account(customer.account.id).balance == 980  # priced and charged as an SMS

        wrong = "000000" if code != "000000" else "111111"
        assert await check(sms, customer, created["id"], wrong) == {
            "id": created["id"], "status": "invalid", "attempts_left": 2
        }  # fmt: skip
        assert (await check(sms, customer, created["id"], code))["status"] == "approved"
        again = await check(sms, customer, created["id"], code, status=409)
        assert again["code"] == "verification_closed"
        detail = (await sms.get(f"/v1/verifications/{created['id']}", headers=customer.headers)).json()
        assert detail["status"] == "approved"
        assert [c["result"] for c in detail["checks"]] == ["invalid", "approved"]

    async def test_a_supplied_code_is_sent_and_echoed_back_to_its_owner(self, sms, db, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="4821", locale="ar", brand="Acme")
        assert created["code"] == "4821"
        assert await codes_received(sms, db, customer, created["id"]) == ["4821"]
        detail = (await sms.get(f"/v1/verifications/{created['id']}", headers=customer.headers)).json()
        [text] = texts_sent(db, [detail["send_history"][0]["message_id"]])
        assert text.startswith("رمز Acme: 4821\n")
        assert (await check(sms, customer, created["id"], "4821"))["status"] == "approved"

    async def test_the_sms_retriever_hash_and_the_webotp_line_end_the_text(self, sms, db, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="9034", app_hash="FA+9qCX9VSu", web_domain="example.com")
        await codes_received(sms, db, customer, created["id"])
        detail = (await sms.get(f"/v1/verifications/{created['id']}", headers=customer.headers)).json()
        [text] = texts_sent(db, [detail["send_history"][0]["message_id"]])
        assert text.endswith("\nFA+9qCX9VSu\n\n@example.com #9034")

    async def test_a_code_closed_before_its_message_left_is_not_sent_and_is_refunded(
        self, gateway, db, operator: Operator
    ):
        http, app = gateway
        connector_id = await running_simulator(app, db)
        links = app.state.services.worker.links
        qasid("connectors", "disable", connector_id)  # the carrier is away: the message waits
        await wait_for(lambda: connector_id not in links.running)
        customer = operator.customer(balance=1000, price=20)
        created = await create(http, customer, code="1234")
        assert operator.account(customer.account.id).balance == 980
        await http.post(f"/v1/verifications/{created['id']}/cancel", headers=customer.headers)
        qasid("connectors", "enable", connector_id)
        detail = (await http.get(f"/v1/verifications/{created['id']}", headers=customer.headers)).json()
        message_id = detail["send_history"][0]["message_id"]

        async def ended():
            message = (await http.get(f"/v1/messages/{message_id}", headers=customer.headers)).json()
            return message if message["status"] == "failed" else None

        message = await wait_for(ended)
        assert message["error_code"] == "VERIFICATION_CLOSED"
        assert texts_sent(db, [message_id]) == []
        assert operator.account(customer.account.id).balance == 1000

    async def test_three_wrong_codes_end_it_and_the_right_one_no_longer_works(self, sms, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="1234")
        results = [await check(sms, customer, created["id"], "9999") for _ in range(3)]
        assert [(r["status"], r["attempts_left"]) for r in results] == [
            ("invalid", 2), ("invalid", 1), ("max_attempts_reached", 0)
        ]  # fmt: skip
        assert (await check(sms, customer, created["id"], "1234"))["status"] == "max_attempts_reached"

    async def test_an_expired_code_is_refused(self, sms, db, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="1234", ttl=60)
        run_out(db, [created["id"]])
        assert (await check(sms, customer, created["id"], "1234"))["status"] == "expired"
        found = (await sms.get("/v1/verifications?status=expired", headers=customer.headers)).json()
        assert [v["id"] for v in found["data"]] == [created["id"]]

    async def test_a_canceled_code_no_longer_works(self, sms, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="1234")
        response = await sms.post(f"/v1/verifications/{created['id']}/cancel", headers=customer.headers)
        assert response.json()["status"] == "canceled"
        assert (await check(sms, customer, created["id"], "1234"))["status"] == "canceled"
        again = await sms.post(f"/v1/verifications/{created['id']}/cancel", headers=customer.headers)
        assert again.status_code == 409

    async def test_a_resend_sends_the_same_code_up_to_the_limit(self, sms, db, operator: Operator):
        customer = operator.customer(balance=1000, price=20)
        created = await create(sms, customer)
        for sends in range(2, 6):
            response = await sms.post(f"/v1/verifications/{created['id']}/resend", headers=customer.headers)
            assert response.status_code == 200, response.text
            assert response.json()["sends"] == sends
        codes = await codes_received(sms, db, customer, created["id"], count=5)
        assert len(set(codes)) == 1
        refused = await sms.post(f"/v1/verifications/{created['id']}/resend", headers=customer.headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "max_sends_reached")
        assert operator.account(customer.account.id).balance == 900  # five SMS
        assert (await check(sms, customer, created["id"], codes[0]))["status"] == "approved"


class TestRefusals:
    async def test_bad_requests_change_nothing(self, sms, db, operator: Operator):
        customer = operator.customer(balance=1000)
        cases = [
            ({"to": "+971501234567"}, 403, "country_not_allowed"),
            ({"channels": ["whatsapp"]}, 422, "channel_unavailable"),
            ({"channels": ["sms", "sms"]}, 422, "channel_unavailable"),
            ({"code": "12a4"}, 422, "invalid_request"),
            ({"code_length": 3}, 422, "invalid_request"),
            ({"to": "12"}, 422, "invalid_request"),
            ({"sender": "Nobody"}, 422, "unknown_sender"),
            ({"brand": "{code}"}, 422, "invalid_request"),
        ]
        for fields, status, code in cases:
            body = {"to": NUMBER, "sender": "Qasid", **fields}
            response = await sms.post("/v1/verifications", json=body, headers=customer.headers)
            assert (response.status_code, response.json()["code"]) == (status, code), fields
        poor = operator.customer(balance=5, price=20, name="poor")
        response = await sms.post(
            "/v1/verifications", json={"to": NUMBER, "sender": "Qasid"}, headers=poor.headers
        )
        assert response.status_code == 402
        with db.read() as conn:
            assert conn.execute(select(verifications.c.id)).all() == []
        assert operator.account(customer.account.id).balance == 1000
        assert operator.account(poor.account.id).balance == 5

    async def test_others_cannot_see_or_check_a_verification(self, sms, operator: Operator):
        owner, other = operator.customer(name="owner"), operator.customer(name="other")
        created = await create(sms, owner, code="1234")
        assert (await sms.get(f"/v1/verifications/{created['id']}", headers=other.headers)).status_code == 404
        assert (await check(sms, other, created["id"], "1234", status=404))["code"] == "not_found"
        assert (await check(sms, owner, "ver_nonsense", "1234", status=404))["code"] == "not_found"


class TestLimits:
    async def test_one_pending_code_per_number_until_it_is_thirty_seconds_old(self, sms, operator: Operator):
        customer = operator.customer()
        first = await create(sms, customer)
        refused = await sms.post(
            "/v1/verifications", json={"to": NUMBER, "sender": "Qasid"}, headers=customer.headers
        )
        assert refused.status_code == 429
        assert refused.json()["code"] == "active_verification_exists"
        assert refused.json()["verification_id"] == first["id"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        other = await create(sms, customer, to="+9647700000002")  # another number is not held back
        assert other["status"] == "pending"

    async def test_each_limit_answers_with_its_own_code_and_a_retry_after(
        self, fast_settings, db, operator: Operator
    ):
        cases = [
            ({"otp_active_grace_seconds": 0, "otp_number_window_limit": 2}, 2, "number_rate_limited", 30),
            (
                {"otp_active_grace_seconds": 0, "otp_number_window_limit": 10, "otp_number_daily_limit": 3},
                3,
                "daily_limit_reached",
                86400,
            ),
            ({"otp_account_active_limit": 2}, 2, "active_verifications_limit", 600),
        ]
        for index, (limits, allowed, code, longest) in enumerate(cases):
            app, lifespan = gateway_with(fast_settings, **limits)
            async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
                await running_simulator(app, db, name=f"sim{index}")
                customer = operator.customer(name=code)
                numbers = [NUMBER] * allowed if code != "active_verifications_limit" else [
                    f"+96477000000{n:02d}" for n in range(10, 10 + allowed)
                ]  # fmt: skip
                for to in numbers:
                    await create(http, customer, to=to)
                refused = await http.post(
                    "/v1/verifications", json={"to": numbers[0], "sender": "Qasid"}, headers=customer.headers
                )
                assert (refused.status_code, refused.json()["code"]) == (429, code)
                assert 1 <= int(refused.headers["Retry-After"]) <= longest
                assert refused.json()["retry_after"] == int(refused.headers["Retry-After"])

    async def test_a_newer_code_for_the_number_replaces_an_older_pending_one(
        self, fast_settings, db, operator: Operator
    ):
        app, lifespan = gateway_with(fast_settings, otp_active_grace_seconds=0)
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer()
            first = await create(http, customer, code="1111")
            await create(http, customer, code="2222")
            assert (await check(http, customer, first["id"], "1111"))["status"] == "canceled"

    async def test_the_accounts_pending_tally_follows_every_change_of_status(
        self, fast_settings, db, operator: Operator
    ):
        app, lifespan = gateway_with(fast_settings, otp_active_grace_seconds=0)
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer(balance=10_000)
            numbers = [f"+96477000000{n:02d}" for n in range(10, 16)]
            made = [(await create(http, customer, to=to, code="1234"))["id"] for to in numbers]
            assert tallied(db, customer) == 6
            await create(http, customer, to=numbers[0], code="1234")  # replaces the first
            assert (await check(http, customer, made[1], "1234"))["status"] == "approved"
            for _ in range(3):
                await check(http, customer, made[2], "9999")  # then max_attempts_reached
            await http.post(f"/v1/verifications/{made[3]}/cancel", headers=customer.headers)
            run_out(db, made[4:])
            # The check writes the first down, the worker's sweep the second.
            assert (await check(http, customer, made[4], "1234"))["status"] == "expired"
            await wait_for(lambda: status_of(db, made[5]) == "expired")
            assert tallied(db, customer) == 1  # the replacement alone
            with db.read() as conn:
                query = select(func.count()).where(
                    verifications.c.account_id == customer.account.id, verifications.c.status == "pending"
                )
                assert conn.execute(query).scalar_one() == 1

    async def test_at_the_account_limit_codes_whose_time_ran_out_do_not_count(
        self, fast_settings, db, operator: Operator
    ):
        # No sweep after the first: the two stay pending in the table, and in the tally.
        app, lifespan = gateway_with(fast_settings, otp_account_active_limit=2, heartbeat_seconds=3600)
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer(balance=10_000)
            made = [(await create(http, customer, to=f"+96477000000{n}"))["id"] for n in (10, 11)]
            refused = await create(http, customer, to="+9647700000012", status=429)
            assert refused["code"] == "active_verifications_limit"
            run_out(db, made[:1])
            await create(http, customer, to="+9647700000012")  # the first no longer counts
            assert [status_of(db, vid) for vid in made] == ["pending", "pending"]
            assert tallied(db, customer) == 3
            again = await create(http, customer, to="+9647700000013", status=429)
            assert 1 <= again["retry_after"] <= 600


class TestRecount:
    async def test_recount_sets_each_tally_to_the_tables_count(
        self, fast_settings, db, operator: Operator, monkeypatch
    ):
        """An operator who edited ``verifications`` by hand puts the tallies right again."""
        app, lifespan = gateway_with(fast_settings)
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer(balance=10_000)
            made = [
                (await create(http, customer, to=f"+96477000000{n}", code="1234"))["id"] for n in (10, 11, 12)
            ]
            assert (await check(http, customer, made[0], "1234"))["status"] == "approved"
        other = operator.customer()  # no verifications, no tally yet
        with db.write() as conn:  # a hand edit: the table no longer agrees with the tally
            conn.execute(update(verifications).where(verifications.c.id == made[1]).values(status="canceled"))
        assert tallied(db, customer) == 2
        monkeypatch.setattr(otp_repository, "RECOUNT_CHUNK", 1)  # an account a statement
        out = qasid("otp", "recount")
        assert f"{customer.account.id}  pending 1 (the tally said 2)" in out
        assert out.splitlines()[-1].endswith("tallies counted, 1 corrected")
        assert tallied(db, customer) == 1
        assert tallied(db, other) == 0  # made, and right
        assert qasid("otp", "recount", customer.account.id).strip() == "1 tallies counted, 0 corrected"
        assert "acc_nobody" in qasid("otp", "recount", "acc_nobody", ok=False)


def tallied(db, customer: Customer) -> int:
    with db.read() as conn:
        query = select(verification_tallies.c.pending).where(
            verification_tallies.c.account_id == customer.account.id
        )
        return int(conn.execute(query).scalar_one())


def status_of(db, verification_id: str) -> str:
    with db.read() as conn:
        query = select(verifications.c.status).where(verifications.c.id == verification_id)
        return str(conn.execute(query).scalar())


def run_out(db, verification_ids: list[str]) -> None:
    """Time passes for these: their expiry a second ago."""
    with db.write() as conn:
        conn.execute(
            update(verifications)
            .where(verifications.c.id.in_(verification_ids))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


class TestSearch:
    async def test_search_by_number_status_and_time_a_page_at_a_time(self, sms, operator: Operator):
        customer = operator.customer(balance=10_000)
        made = [await create(sms, customer, to=f"+96477000000{n:02d}") for n in range(10, 15)]
        await check(sms, customer, made[0]["id"], "not-it")
        page = (await sms.get("/v1/verifications?limit=2", headers=customer.headers)).json()
        assert [v["id"] for v in page["data"]] == [made[4]["id"], made[3]["id"]]
        rest = (
            await sms.get(
                f"/v1/verifications?limit=10&cursor={page['next_cursor']}", headers=customer.headers
            )
        ).json()
        assert [v["id"] for v in rest["data"]] == [m["id"] for m in reversed(made[:3])]
        assert rest["next_cursor"] is None
        one = (await sms.get("/v1/verifications?to=07700000012", headers=customer.headers)).json()
        assert [v["id"] for v in one["data"]] == [made[2]["id"]]
        pending = (await sms.get("/v1/verifications?status=pending", headers=customer.headers)).json()
        assert len(pending["data"]) == 5
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        none = (
            await sms.get("/v1/verifications", params={"created_after": later}, headers=customer.headers)
        ).json()
        assert none["data"] == []
        bad = await sms.get("/v1/verifications?cursor=zzz", headers=customer.headers)
        assert bad.status_code == 422


class TestPolicy:
    async def test_an_accounts_own_rules_replace_the_defaults_and_can_be_put_back(
        self, sms, db, operator: Operator
    ):
        customer = operator.customer(balance=10_000)
        account = customer.account.id
        shown = qasid(
            "otp", "policy", account, "countries=IQ,ae", "max_attempts=1", "code_length=4",
            'texts={"en": "{code} is your {brand} code"}',
        )  # fmt: skip
        assert "countries                AE,IQ\n" in shown
        assert "max_attempts             1\n" in shown
        assert "number_daily_limit       10  (default)" in shown
        abroad = await create(sms, customer, to="+971501234567")  # the UAE is allowed now
        [code] = await codes_received(sms, db, customer, abroad["id"])
        assert len(code) == 4
        detail = (await sms.get(f"/v1/verifications/{abroad['id']}", headers=customer.headers)).json()
        assert texts_sent(db, [detail["send_history"][0]["message_id"]]) == [f"{code} is your Qasid code"]
        wrong = "0000" if code != "0000" else "1111"
        assert (await check(sms, customer, abroad["id"], wrong))["status"] == "max_attempts_reached"
        qasid(
            "otp", "policy", account, "countries=null", "max_attempts=null", "code_length=null", "texts=null"
        )
        refused = await sms.post(
            "/v1/verifications", json={"to": "+971501234568", "sender": "Qasid"}, headers=customer.headers
        )
        assert refused.json()["code"] == "country_not_allowed"

    def test_bad_rules_are_refused_and_change_nothing(self, settings, operator: Operator):
        account = operator.customer().account.id
        for change, complaint in (
            ("max_attempts=0", "max_attempts"),
            ("countries=IRQ", "countries"),
            ("channels=sms,fax", "channels"),
            ('texts={"en": "no code here"}', "{code}"),
            ('texts={"en": "{code} {password}"}', "{code}"),
            ('texts={"xx": "{code}"}', "locales"),
            ("colour=blue", "unknown"),
        ):
            assert complaint in qasid("otp", "policy", account, change, ok=False), change
        assert "(default)" in qasid("otp", "policy", account).splitlines()[0]

    async def test_a_block_of_numbers_walked_by_a_pumping_attack_is_stopped(
        self, fast_settings, db, operator: Operator
    ):
        app, lifespan = gateway_with(fast_settings)
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer(balance=10_000)
            qasid("otp", "policy", customer.account.id, "prefix_limit=3")
            for n in range(3):
                await create(http, customer, to=f"+964770123450{n}")
            refused = await http.post(
                "/v1/verifications",
                json={"to": "+9647701234509", "sender": "Qasid"},
                headers=customer.headers,
            )
            assert (refused.status_code, refused.json()["code"]) == (429, "prefix_rate_limited")
            assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
            assert (await create(http, customer, to="+9647701235001"))["status"] == "pending"  # next block

    async def test_created_and_approved_verifications_are_counted(self, sms, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="1234")
        await check(sms, customer, created["id"], "1234")
        other = await create(sms, customer, to="+9647700000002", code="1234")
        await check(sms, customer, other["id"], "9999")
        metrics = (await sms.get("/metrics")).text
        assert "qasid_verification_conversion_ratio 0.5" in metrics
        assert 'qasid_verifications_total{event="approved"}' in metrics


class TestSecrecy:
    async def test_a_code_never_reaches_the_logs_even_at_debug_level(
        self, fast_settings, db, operator, capfd
    ):
        app, lifespan = gateway_with(fast_settings, log_level="debug")
        async with lifespan, AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
            await running_simulator(app, db)
            customer = operator.customer()
            created = await create(http, customer, code="739154")
            assert await codes_received(http, db, customer, created["id"]) == ["739154"]
            await check(http, customer, created["id"], "111111")
            assert (await check(http, customer, created["id"], "739154"))["status"] == "approved"
        logged = capfd.readouterr()
        assert "worker started" in logged.err + logged.out  # the logs were captured here
        assert "739154" not in logged.err + logged.out
        assert "111111" not in logged.err + logged.out


class TestRaces:
    async def test_requests_at_once_for_one_number_let_exactly_one_through(self, sms, db, operator: Operator):
        customer = operator.customer(balance=10_000)
        body = {"to": "+9647701239871", "sender": "Qasid"}
        answers = await asyncio.gather(
            *(sms.post("/v1/verifications", json=body, headers=customer.headers) for _ in range(6))
        )
        assert sorted(a.status_code for a in answers) == [201, 429, 429, 429, 429, 429]
        assert {a.json()["code"] for a in answers if a.status_code == 429} == {"active_verification_exists"}
        with db.read() as conn:
            assert len(conn.execute(select(verifications.c.id)).all()) == 1
        assert operator.account(customer.account.id).balance == 10_000 - 20

    async def test_checks_at_once_count_every_attempt(self, sms, operator: Operator):
        customer = operator.customer()
        created = await create(sms, customer, code="1234")
        results = await asyncio.gather(*(check(sms, customer, created["id"], "9999") for _ in range(5)))
        assert sorted(r["status"] for r in results) == ["invalid", "invalid", *["max_attempts_reached"] * 3]
        assert sorted(r["attempts_left"] for r in results) == [0, 0, 0, 1, 2]
        assert (await check(sms, customer, created["id"], "1234"))["status"] == "max_attempts_reached"


class TestStartup:
    async def test_a_short_server_secret_stops_the_gateway_from_starting(self, fast_settings):
        app = create_app(
            fast_settings.model_copy(update={"secret_key": SecretStr("too-short")}), role="serve"
        )
        with pytest.raises(BaseException) as caught:  # noqa: PT011 - the lifespan wraps it in a group
            async with LifespanManager(app):
                pass
        told = "".join(traceback.format_exception(caught.value))
        assert "QASID_SECRET_KEY must be at least 32 characters" in told


class TestAdmissionHistory:
    """The one query every create's limits are decided from, against rows written directly."""

    def test_it_finds_each_accounts_pending_count_numbers_and_blocks_and_nothing_else(
        self, db, operator: Operator
    ):
        mine, theirs = operator.customer(name="mine").account.id, operator.customer(name="theirs").account.id
        now = datetime.now(UTC).replace(microsecond=0)

        def row(account_id: str, n: int, to: str, status: str, age: timedelta, left: timedelta) -> list:
            values = {
                "id": f"ver_{n:026d}", "account_id": account_id, "recipient": to, "country": "IQ",
                "channels": "sms", "channel": "sms", "status": status, "code_length": 6,
                "code_digest": "d", "code_seal": "s", "code_supplied": False, "locale": "en",
                "brand": "b", "sender": "Qasid", "callback_url": None, "callback_secret": None,
                "message_callback": None, "attempts": 0, "max_attempts": 3, "sends": 1, "max_sends": 5,
                "expires_at": now - age + left, "created_at": now - age, "updated_at": now - age,
                "prefix": to[:-3],
            }  # fmt: skip
            return [values[name] for name in COLUMNS]

        minute, day = timedelta(minutes=1), timedelta(days=1)
        rows = [
            row(mine, 1, "+9647700000001", "pending", 5 * minute, 10 * minute),  # pending, ends in 5 min
            row(mine, 2, "+9647700000001", "approved", 3 * minute, 10 * minute),
            row(mine, 3, "+9647700000999", "pending", 2 * minute, 10 * minute),  # pending, ends in 8 min
            row(mine, 4, "+9647700000002", "pending", 20 * minute, 10 * minute),  # ran out: not pending
            row(mine, 5, "+9647700000001", "approved", 2 * day, 10 * minute),  # older than a day
            row(mine, 6, "+9647711111001", "pending", 90 * minute, 100 * minute),  # another block
            row(theirs, 7, "+9647700000001", "pending", minute, 10 * minute),  # another account
        ]
        with db.write() as conn:
            bulk_insert(conn, verifications, rows, COLUMNS)
            written = [dict(zip(COLUMNS, values, strict=True)) for values in rows]
            count_pending(conn, began=[v for v in written if v["status"] == "pending"])
        with db.read() as conn:
            repo = VerificationRepository(conn)
            found = repo.admission_history(
                [mine, mine],
                ["+9647700000001", "+9647700000005"],
                ["+9647700000"],
                numbers_since=now - day,
                prefixes_since=now - timedelta(hours=1),
            ).run(conn)
            running = repo.running(mine, now)
        assert found.pending == {mine: 4}  # the tally: 1, 3, 6, and 4 until the sweep writes it down
        assert running == (3, now + 5 * minute)  # 1, 3 and 6: 4's time ran out
        assert [(vid[-1], status, at) for vid, _, _, status, at, _ in found.numbers] == [
            ("1", "pending", now - 5 * minute),
            ("2", "approved", now - 3 * minute),
        ]  # oldest first, this account's, this number's, within the day
        assert found.numbers[0][5] == now + 5 * minute
        assert found.blocks == [
            (mine, "+9647700000", now - 20 * minute),
            (mine, "+9647700000", now - 5 * minute),
            (mine, "+9647700000", now - 3 * minute),
            (mine, "+9647700000", now - 2 * minute),
        ]  # the block's verifications of the last hour, whatever their number or status
