"""Contacts and lists: added one by one or imported from CSV and XLSX files by a worker, one
contact per number per account, every bad row named with its line; and lists people join by word."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy.exc import OperationalError

from qasid.channels.base import Inbound
from qasid.contacts import importer
from qasid.contacts.repository import ImportRepository
from qasid.inbound.service import RecordInbound
from tests.receiver import running
from tests.support import Customer, Operator, wait_for

CSV = (
    "Name,Phone,City\n"
    "Ali,07701234567,Erbil\n"  # national: read in the account's region (IQ)
    "Sara,+9647801234567,Basra\n"
    ",9647801234567,Najaf\n"  # the same number again, without a name: merged, its city the later one
    "Omar,+96414456789,Baghdad\n"  # a landline: cannot receive SMS
    "Noor,,Mosul\n"  # no number
    "Huda,not a number,Kirkuk\n"
    "\n"
    "Zain,+9647901234567,Duhok\n"
)


async def create_list(http, customer: Customer, name: str = "Customers", **extra: object) -> dict:
    response = await http.post("/v1/contact-lists", json={"name": name, **extra}, headers=customer.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def upload(http, customer: Customer, list_id: str, body: bytes, content_type: str = "text/csv") -> dict:
    response = await http.post(
        f"/v1/contact-lists/{list_id}/imports", content=body,
        headers={**customer.headers, "Content-Type": content_type},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    return dict(response.json())


async def finished(http, customer: Customer, import_id: str) -> dict:
    async def done() -> dict | None:
        found = (await http.get(f"/v1/imports/{import_id}", headers=customer.headers)).json()
        return found if found["status"] in ("done", "failed") else None

    return dict(await wait_for(done, within=20))


class TestLists:
    async def test_lists_are_the_accounts_own_and_their_names_unique(self, client, operator: Operator):
        customer, other = operator.customer(), operator.customer(name="other")
        made = await create_list(client, customer, subscribe_word="Join")
        assert (made["name"], made["subscribe_word"], made["contacts"]) == ("Customers", "join", 0)
        again = await client.post("/v1/contact-lists", json={"name": "Customers"}, headers=customer.headers)
        assert again.status_code == 409
        assert (await client.get(f"/v1/contact-lists/{made['id']}", headers=other.headers)).status_code == 404
        renamed = await client.patch(
            f"/v1/contact-lists/{made['id']}",
            json={"name": "VIP", "subscribe_word": None},
            headers=customer.headers,
        )
        assert (renamed.json()["name"], renamed.json()["subscribe_word"]) == ("VIP", None)
        assert [
            row["name"]
            for row in (await client.get("/v1/contact-lists", headers=customer.headers)).json()["data"]
        ] == ["VIP"]

    async def test_one_contact_per_number_however_often_it_is_added(self, client, operator: Operator):
        customer = operator.customer()
        first, second = await create_list(client, customer), await create_list(client, customer, "Second")
        a = await client.post(
            f"/v1/contact-lists/{first['id']}/contacts",
            json={"number": "07701234567", "name": "Ali", "fields": {"city": "Erbil", "plan": "gold"}},
            headers=customer.headers,
        )
        b = await client.post(
            f"/v1/contact-lists/{second['id']}/contacts",
            json={"number": "+9647701234567", "fields": {"city": "Duhok"}},
            headers=customer.headers,
        )
        assert a.json()["id"] == b.json()["id"]
        assert b.json()["name"] == "Ali"
        assert b.json()["fields"] == {"city": "Duhok", "plan": "gold"}
        assert sorted(b.json()["lists"]) == sorted([first["id"], second["id"]])
        changed = await client.patch(
            f"/v1/contacts/{a.json()['id']}", json={"fields": {"plan": ""}}, headers=customer.headers
        )
        assert changed.json()["fields"] == {"city": "Duhok"}
        bad = await client.post(
            f"/v1/contact-lists/{first['id']}/contacts",
            json={"number": "+96414456789"},
            headers=customer.headers,
        )
        assert bad.status_code == 422
        gone = await client.delete(
            f"/v1/contact-lists/{first['id']}/contacts/{a.json()['id']}", headers=customer.headers
        )
        assert gone.status_code == 204
        in_first = (
            await client.get("/v1/contacts", params={"list_id": first["id"]}, headers=customer.headers)
        ).json()
        assert in_first["data"] == []
        assert (
            await client.delete(f"/v1/contacts/{a.json()['id']}", headers=customer.headers)
        ).status_code == 204
        assert (await client.get("/v1/contacts", headers=customer.headers)).json()["data"] == []


class TestImports:
    async def test_a_csv_file_is_read_into_the_list_and_every_bad_row_named(
        self, fast_settings, operator: Operator
    ):
        customer = operator.customer()
        async with running(fast_settings) as (http, _app):
            target = await create_list(http, customer)
            queued = await upload(http, customer, target["id"], CSV.encode())
            assert (queued["status"], queued["format"]) == ("queued", "csv")
            done = await finished(http, customer, queued["id"])
            bad = (await http.get(f"/v1/imports/{queued['id']}/errors", headers=customer.headers)).json()
            members = (
                await http.get("/v1/contacts", params={"list_id": target["id"]}, headers=customer.headers)
            ).json()
        assert (done["status"], done["progress"], done["rows_read"]) == ("done", 1.0, 7)
        assert (done["rows_added"], done["rows_merged"], done["rows_bad"]) == (3, 1, 3)
        assert [(row["line"], row["reason"]) for row in bad["data"]] == [
            (5, "landline"), (6, "missing"), (7, "unparsable"),
        ]  # fmt: skip
        assert bad["next_after"] is None
        by_number = {c["number"]: c for c in members["data"]}
        assert set(by_number) == {"+9647701234567", "+9647801234567", "+9647901234567"}
        assert (by_number["+9647801234567"]["name"], by_number["+9647801234567"]["fields"]) == (
            "Sara", {"City": "Najaf"},
        )  # fmt: skip

    async def test_batches_written_behind_the_reading_are_written_in_order_and_once(
        self, fast_settings, operator: Operator, monkeypatch
    ):
        """Two rows to a batch, so batches are parsed while the one before is written; the second
        batch's first write fails as if the database went away: the import is taken up again after
        the rows it wrote, and ends as if nothing had happened."""
        monkeypatch.setattr(importer, "BATCH", 2)
        written = importer.Importer._write_batch
        calls: list[int] = []

        def flaky(conn, job, *, good, errors, progress, now) -> None:
            calls.append(len(calls))
            if len(calls) == 2:
                raise OperationalError("INSERT", {}, ConnectionError("the database went away"))
            written(conn, job, good=good, errors=errors, progress=progress, now=now)

        monkeypatch.setattr(importer.Importer, "_write_batch", staticmethod(flaky))
        customer = operator.customer()
        async with running(fast_settings) as (http, _app):
            target = await create_list(http, customer)
            done = await finished(
                http, customer, (await upload(http, customer, target["id"], CSV.encode()))["id"]
            )
            bad = (await http.get(f"/v1/imports/{done['id']}/errors", headers=customer.headers)).json()
            members = (
                await http.get("/v1/contacts", params={"list_id": target["id"]}, headers=customer.headers)
            ).json()
        assert len(calls) == 5  # three batches of two, the last of one, and the try that failed
        assert (done["status"], done["rows_read"]) == ("done", 7)
        assert (done["rows_added"], done["rows_merged"], done["rows_bad"]) == (3, 1, 3)
        assert [(row["line"], row["reason"]) for row in bad["data"]] == [
            (5, "landline"), (6, "missing"), (7, "unparsable"),
        ]  # fmt: skip
        assert sorted(c["number"] for c in members["data"]) == [
            "+9647701234567", "+9647801234567", "+9647901234567",
        ]  # fmt: skip

    async def test_an_xlsx_file_too(self, fast_settings, operator: Operator):
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["mobile", "name", "plan"])
        sheet.append([9647701234567, "Ali", "gold"])
        sheet.append(["07801234567", None, None])
        sheet.append(["12", "Bad", None])
        data = io.BytesIO()
        book.save(data)
        customer = operator.customer()
        async with running(fast_settings) as (http, _app):
            target = await create_list(http, customer)
            xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            done = await finished(
                http, customer, (await upload(http, customer, target["id"], data.getvalue(), xlsx))["id"]
            )
        assert (done["status"], done["rows_added"], done["rows_bad"]) == ("done", 2, 1)

    async def test_a_file_without_a_number_column_fails_and_says_why(self, fast_settings, operator: Operator):
        customer = operator.customer()
        async with running(fast_settings) as (http, _app):
            target = await create_list(http, customer)
            done = await finished(
                http, customer, (await upload(http, customer, target["id"], b"name,city\nAli,Erbil\n"))["id"]
            )
        assert done["status"] == "failed"
        assert "number" in done["error"]

    async def test_a_restarted_import_resumes_after_the_rows_it_wrote(
        self, fast_settings, operator: Operator, db
    ):
        customer = operator.customer()
        async with running(fast_settings) as (http, app):
            target = await create_list(http, customer)
            app.state.services.worker.importer.stop()  # hold the worker's importer back while we set up
            await wait_for(lambda: True)
            queued = await upload(http, customer, target["id"], CSV.encode())
        with db.write() as conn:  # as if a worker had written the first four rows and died
            ImportRepository(conn).set(queued["id"], datetime.now(UTC), rows_read=4)
        async with running(fast_settings) as (http, _app):
            done = await finished(http, customer, queued["id"])
            members = (
                await http.get("/v1/contacts", params={"list_id": target["id"]}, headers=customer.headers)
            ).json()
        assert (done["rows_read"], done["rows_added"], done["rows_bad"]) == (7, 1, 2)
        assert [c["number"] for c in members["data"]] == ["+9647901234567"]

    async def test_a_file_over_the_limit_is_refused_and_nothing_is_queued(
        self, fast_settings, operator: Operator
    ):
        customer = operator.customer()
        async with running(fast_settings, max_import_bytes=2048) as (http, _app):
            target = await create_list(http, customer)
            big = await http.post(
                f"/v1/contact-lists/{target['id']}/imports", content=CSV.encode() * 20,
                headers={**customer.headers, "Content-Type": "text/csv"},
            )  # fmt: skip
            odd = await http.post(
                f"/v1/contact-lists/{target['id']}/imports", content=b"x",
                headers={**customer.headers, "Content-Type": "image/png"},
            )  # fmt: skip
        assert big.status_code == 413
        assert odd.status_code == 422


class TestSubscribing:
    @pytest.mark.parametrize("text", ["JOIN", "join please"])
    async def test_a_word_joins_the_list_and_stop_leaves_every_list(
        self, fast_settings, operator: Operator, text: str
    ):
        customer = operator.customer(senders_approved=("Qasid", "+9647700000099"))
        phone = "+9647701112233"
        async with running(fast_settings) as (http, app):
            target = await create_list(http, customer, subscribe_word="join")

            async def mo(body: str) -> None:
                sent = Inbound("con_x", phone, "9647700000099", body, datetime.now(UTC))
                await app.state.services.writer.submit(RecordInbound([sent]))

            await mo(text)
            joined = (
                await http.get("/v1/contacts", params={"list_id": target["id"]}, headers=customer.headers)
            ).json()
            await mo("STOP")
            left = (
                await http.get("/v1/contacts", params={"list_id": target["id"]}, headers=customer.headers)
            ).json()
        assert [c["number"] for c in joined["data"]] == [phone]
        assert left["data"] == []
