"""The verification code that docs/webhooks.md shows, in Python and in Node.js, run against real calls
from the gateway: it accepts them, and refuses a changed body or a wrong secret."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.httpserver import HttpRequest
from tests.receiver import Receiver, endpoint, running, send
from tests.support import Operator, running_simulator, wait_for

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
NODE_HARNESS = """
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
try {
  const event = verifyWebhook(input.secret, input.headers, Buffer.from(input.body, "base64"));
  console.log(JSON.stringify({ok: true, type: event.type}));
} catch (error) {
  console.log(JSON.stringify({ok: false, error: error.message}));
}
"""


def snippet(language: str) -> str:
    (found,) = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), flags=re.S)
    return str(found)


def run_python(secret: str, call: HttpRequest) -> str | None:
    """The event type, or None when the documented code refuses the call."""
    code = snippet("python").replace('"whsec_..."', repr(secret))
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the documentation's own example
    event = scope["verified_event"](call.body, call.headers)
    return None if event is None else str(event["type"])


def run_node(secret: str, call: HttpRequest, tmp_path: Path) -> dict:
    script = tmp_path / "verify.js"
    script.write_text(snippet("js") + NODE_HARNESS)
    payload = {"secret": secret, "headers": call.headers, "body": _b64(call.body)}
    done = subprocess.run(
        ["node", str(script)], input=json.dumps(payload), capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
async def signed_call(fast_settings, operator: Operator, db, receiver: Receiver) -> tuple[str, HttpRequest]:
    async with running(fast_settings) as (http, app):
        await running_simulator(app, db)
        customer = operator.customer()
        created = await endpoint(http, customer, receiver.url, statuses="final")
        await send(http, customer, "+9647700000001")
        await wait_for(lambda: receiver.calls)
    return created["secret"], receiver.calls[0]


def tampered(call: HttpRequest) -> HttpRequest:
    body = call.body.replace(b'"delivered"', b'"undelivered"')
    assert body != call.body
    return HttpRequest(call.method, call.target, call.path, call.query, call.headers, body)


class TestTheDocumentedPython:
    async def test_it_accepts_a_real_call_and_refuses_a_changed_one(self, signed_call):
        secret, call = signed_call
        assert run_python(secret, call) == "message.status"
        assert run_python(secret, tampered(call)) is None
        assert run_python("whsec_" + "A" * 32, call) is None


class TestTheDocumentedNode:
    async def test_it_accepts_a_real_call_and_refuses_a_changed_one(self, signed_call, tmp_path):
        secret, call = signed_call
        assert run_node(secret, call, tmp_path) == {"ok": True, "type": "message.status"}
        assert run_node(secret, tampered(call), tmp_path) == {"ok": False, "error": "no valid signature"}
        stale = dict(call.headers, **{"webhook-timestamp": str(int(call.headers["webhook-timestamp"]) - 600)})
        old = HttpRequest(call.method, call.target, call.path, call.query, stale, call.body)
        assert run_node(secret, old, tmp_path) == {"ok": False, "error": "timestamp too far off"}
