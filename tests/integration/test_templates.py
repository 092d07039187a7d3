"""Templates: texts with {{variables}} kept per account, checked when written, and previewed for one
recipient with the text, encoding, parts and price it would have."""

from __future__ import annotations

from qasid.domain.templates import render, variables
from tests.support import Operator

BODY = "Hi {{name|there}}, your {{City}} order {{order}} is on its way."


async def make(client, customer, name: str = "shipping", body: str = BODY):
    return await client.post("/v1/templates", json={"name": name, "body": body}, headers=customer.headers)


class TestTheText:
    def test_variables_default_and_are_found_in_any_case(self):
        assert variables(BODY) == ["name", "City", "order"]
        filled = render(BODY, {"city": "Erbil", "order": "A-7"})
        assert filled.text == "Hi there, your Erbil order A-7 is on its way."
        assert filled.missing == ()
        assert render(BODY, {}).missing == ("City", "order")


class TestTemplates:
    async def test_a_template_is_kept_listed_changed_and_removed(self, client, operator: Operator):
        customer, other = operator.customer(), operator.customer(name="other")
        made = await make(client, customer)
        assert made.status_code == 201, made.text
        assert made.json()["variables"] == ["name", "City", "order"]
        assert (await make(client, customer)).status_code == 409
        assert (
            await client.get(f"/v1/templates/{made.json()['id']}", headers=other.headers)
        ).status_code == 404
        changed = await client.patch(
            f"/v1/templates/{made.json()['id']}", json={"body": "Code {{code}}"}, headers=customer.headers
        )
        assert changed.json()["variables"] == ["code"]
        bad = await client.patch(
            f"/v1/templates/{made.json()['id']}", json={"body": "Code {{code"}, headers=customer.headers
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "body"
        assert (
            await client.delete(f"/v1/templates/{made.json()['id']}", headers=customer.headers)
        ).status_code == 204
        assert (await client.get("/v1/templates", headers=customer.headers)).json()["data"] == []

    async def test_a_preview_fills_it_for_a_contact_and_prices_it(self, client, operator: Operator):
        customer = operator.customer(price=20)
        template = (await make(client, customer)).json()
        listed = (
            await client.post("/v1/contact-lists", json={"name": "All"}, headers=customer.headers)
        ).json()
        contact = (
            await client.post(
                f"/v1/contact-lists/{listed['id']}/contacts",
                json={"number": "07701234567", "name": "Sara", "fields": {"city": "Basra"}},
                headers=customer.headers,
            )
        ).json()
        shown = await client.post(
            f"/v1/templates/{template['id']}/preview",
            json={"contact_id": contact["id"], "params": {"order": "B-12", "name": "ignored"}},
            headers=customer.headers,
        )
        assert shown.status_code == 200, shown.text
        assert shown.json() == {
            "text": "Hi Sara, your Basra order B-12 is on its way.", "encoding": "gsm7", "segments": 1,
            "units": 45, "to": "+9647701234567", "price": 20, "currency": "IQD", "missing": [],
        }  # fmt: skip
        arabic = await client.post(
            f"/v1/templates/{template['id']}/preview",
            json={"to": "+9647801234567", "params": {"name": "سارة" * 20}},
            headers=customer.headers,
        )
        assert (arabic.json()["encoding"], arabic.json()["segments"], arabic.json()["price"]) == (
            "ucs2",
            2,
            40,
        )
        assert arabic.json()["missing"] == ["City", "order"]
        nobody = await client.post(
            f"/v1/templates/{template['id']}/preview", json={}, headers=customer.headers
        )
        assert nobody.status_code == 422
