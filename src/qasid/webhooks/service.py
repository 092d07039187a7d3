"""Use cases about webhook endpoints and deliveries: what the API and the CLI both call, inside a
write transaction (``qasid.db.writer.Apply`` for the API, ``qasid.cli.common.transaction`` for the
CLI) or a read."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from anyio import to_thread
from sqlalchemy import Connection, RowMapping

from qasid.accounts.records import Caller
from qasid.accounts.service import require_account
from qasid.db import Database
from qasid.db.writer import Apply, GroupCommitWriter
from qasid.domain import ids
from qasid.errors import InvalidRequest, NotFound
from qasid.vault import Vault
from qasid.webhooks.events import announce
from qasid.webhooks.formats import FORMATS
from qasid.webhooks.guard import AddressPolicy
from qasid.webhooks.records import Callback, EventType, Format, Statuses
from qasid.webhooks.repository import DeliveryFilter, DeliveryRepository, EndpointRepository
from qasid.webhooks.schemas import (
    Attempt,
    CreateEndpointRequest,
    Delivery,
    DeliveryDetail,
    DeliveryPage,
    Endpoint,
    EndpointList,
    EndpointWithSecret,
    UpdateEndpointRequest,
)

MAX_ENDPOINTS = 20  # per account
MAX_URL, MAX_DESCRIPTION = 2000, 200
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of Standard Webhooks secrets, not a secret
ALL_EVENTS = tuple(e.value for e in EventType)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def as_standard_secret(secret: str, field: str = "secret") -> str:
    """A caller's secret in Standard Webhooks form: ``whsec_<base64>`` as it is, any other text as
    the bytes of that text."""
    if secret.startswith(SECRET_PREFIX):
        try:
            base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise _invalid(field, "after whsec_ comes base64") from exc
        return secret
    return SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Makes a request's own callback from what the request said: the URL checked, the secret sealed."""

    policy: AddressPolicy
    vault: Vault

    def make(self, url: str, *, statuses: str = "all", secret: str | None = None, field: str) -> Callback:
        if why := self.policy.check_url(url):
            raise _invalid(f"{field}.url" if field != "callback_url" else field, why)
        sealed = self.vault.seal(as_standard_secret(secret, field)) if secret else None
        return Callback(url, Statuses(statuses), sealed)


def create_endpoint(
    conn: Connection,
    vault: Vault,
    policy: AddressPolicy,
    account_id: str,
    *,
    url: str,
    now: datetime,
    events: Sequence[str] | None = None,
    statuses: str = Statuses.ALL.value,
    description: str | None = None,
    form: str = Format.STANDARD.value,
    secret: str | None = None,
) -> tuple[RowMapping, str]:
    """The new endpoint and its secret (shown once): the one given, else a new one. An endpoint in a
    dialect's format (``form``) receives ``message.status`` only, and needs the key it sends."""
    repo = EndpointRepository(conn)
    require_account(conn, account_id)
    standard = form == Format.STANDARD
    if events is None:
        events = ALL_EVENTS if standard else (EventType.MESSAGE_STATUS.value,)
    _check(policy, url=url, events=events, statuses=statuses, description=description)
    if form not in FORMATS:
        raise _invalid("format", f"choose from {', '.join(sorted(FORMATS))}")
    _fits_format(form, events)
    if not standard and not secret:
        raise _invalid("secret", f"the {form} format sends your key with every call: give it as secret")
    if len(repo.of_account(account_id)) >= MAX_ENDPOINTS:
        raise InvalidRequest(f"an account has at most {MAX_ENDPOINTS} webhook endpoints")
    if secret is None:
        secret = new_secret()
    elif standard:
        secret = as_standard_secret(secret)
    endpoint_id = ids.new_id("whe")
    repo.insert(
        {
            "id": endpoint_id,
            "account_id": account_id,
            "url": url,
            "description": description,
            "events": _events(events),
            "statuses": statuses,
            "format": form,
            "secret": vault.seal(secret),
            "enabled": True,
            "disabled_reason": None,
            "failures": 0,
            "failing_since": None,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
    )
    return _require(repo, account_id, endpoint_id), secret


def change_endpoint(
    conn: Connection,
    policy: AddressPolicy,
    account_id: str | None,
    endpoint_id: str,
    *,
    now: datetime,
    changes: dict[str, Any],
) -> RowMapping:
    """Change an endpoint (``account_id`` None: any account's, for the operator). Enabling a
    disabled one clears its failures and makes what waited for it due now."""
    repo = EndpointRepository(conn)
    found = _require(repo, account_id, endpoint_id)
    changes = {name: value for name, value in changes.items() if value is not None}
    _check(policy, **{k: v for k, v in changes.items() if k in ("url", "events", "statuses", "description")})
    _fits_format(found["format"], changes.get("events"))
    if "events" in changes:
        changes["events"] = _events(changes["events"])
    if changes.get("enabled") is True and not found["enabled"]:
        changes.update(disabled_reason=None, failures=0, failing_since=None)
        DeliveryRepository(conn).resume(endpoint_id, now)
        announce(conn)
    elif changes.get("enabled") is False and found["enabled"]:
        changes["disabled_reason"] = "disabled by request"
    if changes:
        repo.change(endpoint_id, now, **changes)
    return _require(repo, found["account_id"], endpoint_id)


def delete_endpoint(conn: Connection, account_id: str | None, endpoint_id: str, now: datetime) -> None:
    """The endpoint receives nothing more; deliveries still waiting for it fail."""
    repo = EndpointRepository(conn)
    _require(repo, account_id, endpoint_id)
    repo.change(endpoint_id, now, enabled=False, deleted_at=now, disabled_reason="deleted")
    DeliveryRepository(conn).abandon(endpoint_id, "the endpoint was deleted", now)


def rotate_secret(
    conn: Connection, vault: Vault, account_id: str | None, endpoint_id: str, now: datetime
) -> str:
    """A new signing secret, used from the next try on; the old one stops working at once."""
    repo = EndpointRepository(conn)
    _require(repo, account_id, endpoint_id)
    secret = new_secret()
    repo.change(endpoint_id, now, secret=vault.seal(secret))
    return secret


def replay(conn: Connection, account_id: str | None, delivery_id: str, now: datetime) -> RowMapping:
    """Send a delivery again, now, with the same ``webhook-id`` and body: a failed one, or one that
    was delivered and the receiver lost."""
    repo = DeliveryRepository(conn)
    found = repo.get(account_id, delivery_id)
    if found is None:
        raise NotFound(f"no webhook delivery {delivery_id!r}")
    if found["endpoint_id"] is not None and _endpoint(conn, found["endpoint_id"]) is None:
        raise InvalidRequest("the delivery's endpoint was deleted")
    repo.replay(delivery_id, now)
    announce(conn)
    replayed = repo.get(account_id, delivery_id)
    assert replayed is not None  # noqa: S101 - read back in the same transaction
    return replayed


def _endpoint(conn: Connection, endpoint_id: str) -> RowMapping | None:
    return EndpointRepository(conn).find(endpoint_id)


def _require(repo: EndpointRepository, account_id: str | None, endpoint_id: str) -> RowMapping:
    found = repo.find(endpoint_id) if account_id is None else repo.get(account_id, endpoint_id)
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return found


def _check(
    policy: AddressPolicy,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    statuses: str | None = None,
    description: str | None = None,
) -> None:
    if url is not None and (why := policy.check_url(url)):
        raise _invalid("url", why)
    if url is not None and len(url) > MAX_URL:
        raise _invalid("url", f"at most {MAX_URL} characters")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise _invalid("description", f"at most {MAX_DESCRIPTION} characters")
    if events is not None:
        unknown = sorted(set(events) - set(ALL_EVENTS))
        if unknown or not events:
            raise _invalid("events", f"choose from {', '.join(ALL_EVENTS)}")
    if statuses is not None and statuses not in {s.value for s in Statuses}:
        raise _invalid("statuses", "all or final")


def _fits_format(form: str, events: Sequence[str] | None) -> None:
    """An endpoint in a dialect's format receives ``message.status`` only (it has no shape for
    the rest)."""
    if form != Format.STANDARD and events is not None and set(events) != {EventType.MESSAGE_STATUS.value}:
        raise _invalid("events", f"an endpoint in the {form} format receives message.status only")


def _events(events: Sequence[str]) -> str:
    return ",".join(e for e in ALL_EVENTS if e in set(events))


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"invalid {field}: {message}", errors=[{"field": field, "message": message}])


class WebhookService:
    """What the API does with webhooks: writes through the group commit, reads in a thread."""

    def __init__(self, db: Database, writer: GroupCommitWriter, callbacks: Callbacks) -> None:
        self.db = db
        self.writer = writer
        self.vault = callbacks.vault
        self.policy = callbacks.policy

    async def create(self, caller: Caller, request: CreateEndpointRequest) -> EndpointWithSecret:
        row, secret = await self.writer.submit(
            Apply(
                lambda conn: create_endpoint(
                    conn, self.vault, self.policy, caller.account_id, url=request.url, now=_now(),
                    events=request.events, statuses=request.statuses, description=request.description,
                    form=request.format, secret=request.secret,
                )
            )
        )  # fmt: skip
        return EndpointWithSecret(**msgspec.structs.asdict(Endpoint.of(row)), secret=secret)

    async def change(self, caller: Caller, endpoint_id: str, request: UpdateEndpointRequest) -> Endpoint:
        changes = msgspec.structs.asdict(request)
        row = await self.writer.submit(
            Apply(
                lambda conn: change_endpoint(
                    conn, self.policy, caller.account_id, endpoint_id, now=_now(), changes=changes
                )
            )
        )
        return Endpoint.of(row)

    async def delete(self, caller: Caller, endpoint_id: str) -> None:
        await self.writer.submit(
            Apply(lambda conn: delete_endpoint(conn, caller.account_id, endpoint_id, _now()))
        )

    async def rotate(self, caller: Caller, endpoint_id: str) -> EndpointWithSecret:
        def rotate(conn: Connection) -> tuple[RowMapping, str]:
            secret = rotate_secret(conn, self.vault, caller.account_id, endpoint_id, _now())
            return _require(EndpointRepository(conn), caller.account_id, endpoint_id), secret

        row, secret = await self.writer.submit(Apply(rotate))
        return EndpointWithSecret(**msgspec.structs.asdict(Endpoint.of(row)), secret=secret)

    async def replay(self, caller: Caller, delivery_id: str) -> Delivery:
        row = await self.writer.submit(
            Apply(lambda conn: replay(conn, caller.account_id, delivery_id, _now()))
        )
        return Delivery.of(row)

    async def endpoints(self, caller: Caller) -> EndpointList:
        def read() -> EndpointList:
            with self.db.read() as conn:
                return EndpointList(
                    data=[Endpoint.of(r) for r in EndpointRepository(conn).of_account(caller.account_id)]
                )

        return await to_thread.run_sync(read)

    async def endpoint(self, caller: Caller, endpoint_id: str) -> Endpoint:
        def read() -> Endpoint:
            with self.db.read() as conn:
                return Endpoint.of(_require(EndpointRepository(conn), caller.account_id, endpoint_id))

        return await to_thread.run_sync(read)

    async def deliveries(self, caller: Caller, where: DeliveryFilter, limit: int) -> DeliveryPage:
        def read() -> DeliveryPage:
            with self.db.read() as conn:
                rows = DeliveryRepository(conn).page(caller.account_id, where, limit + 1)
            page = [Delivery.of(r) for r in rows[:limit]]
            return DeliveryPage(data=page, next_cursor=page[-1].id if len(rows) > limit else None)

        return await to_thread.run_sync(read)

    async def delivery(self, caller: Caller, delivery_id: str) -> DeliveryDetail:
        return await to_thread.run_sync(self.read_delivery, caller.account_id, delivery_id)

    def read_delivery(self, account_id: str | None, delivery_id: str) -> DeliveryDetail:
        with self.db.read() as conn:
            return delivery_detail(conn, account_id, delivery_id)


def delivery_detail(conn: Connection, account_id: str | None, delivery_id: str) -> DeliveryDetail:
    repo = DeliveryRepository(conn)
    row = repo.get(account_id, delivery_id)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id!r}")
    tries = [
        Attempt(at=a["at"], url=a["url"], status_code=a["status_code"], latency_ms=a["latency_ms"],
                error=a["error"], response=a["response"])
        for a in repo.attempts(delivery_id)
    ]  # fmt: skip
    base = msgspec.structs.asdict(Delivery.of(row))
    return DeliveryDetail(**base, payload=msgspec.json.decode(row["payload"]), tries=tries)


def _now() -> datetime:
    return datetime.now(UTC)
