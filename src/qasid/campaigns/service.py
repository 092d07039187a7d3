"""Use cases about campaigns: making one (its audience counted and its cost checked against the
credit), pausing, resuming and canceling it, and reading where it stands."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from sqlalchemy import Connection, RowMapping

from qasid.accounts.records import Caller, available
from qasid.accounts.repository import AccountRepository
from qasid.billing.records import Channel
from qasid.billing.service import Refund, price_list, refund_many
from qasid.campaigns.records import MOVING, CampaignStatus
from qasid.campaigns.repository import CampaignRepository
from qasid.campaigns.schemas import CreateCampaignRequest
from qasid.contacts.service import require_list
from qasid.domain import ids
from qasid.domain.encoding import analyze
from qasid.domain.phone import Refusal, parse_recipient
from qasid.domain.states import MessageStatus
from qasid.domain.templates import render
from qasid.errors import InsufficientFunds, InvalidRequest, NotCancelable, NotFound, SenderNotApproved
from qasid.messages.history import record_moves
from qasid.messages.repository import MessageRepository
from qasid.outbox.repository import JobRepository
from qasid.senders import service as senders
from qasid.senders.records import SenderStatus
from qasid.settings import Settings
from qasid.templates.service import checked
from qasid.templates.service import require as require_template

_json = msgspec.json.Encoder()


def create(
    conn: Connection, caller: Caller, request: CreateCampaignRequest, settings: Settings, now: datetime
) -> str:
    """The campaign's id, once it is checked and its estimated cost fits the account's credit."""
    body, template_id = _body(conn, caller, request)
    sender = _sender(conn, caller, request.sender)
    for list_id in request.lists:
        require_list(conn, caller.account_id, list_id)
    numbers = list(dict.fromkeys(n for raw in request.numbers if (n := _number(raw, caller.default_region))))
    invalid = len(request.numbers) - len(numbers)
    repo = CampaignRepository(conn)
    audience = repo.audience(request.lists) + len(numbers)
    if audience == 0:
        raise _invalid("lists", "the lists are empty and there are no numbers")
    start = request.start_at or now
    if start > now + timedelta(days=settings.max_schedule_days):
        raise _invalid("start_at", f"at most {settings.max_schedule_days} days ahead")
    estimate = audience * _segments(body, request.params) * _highest_price(conn, caller)
    account = AccountRepository(conn).lock_for_update([caller.account_id])[caller.account_id]
    can_spend = available(account["payment_type"], account["balance"], account["credit_limit"])
    if estimate > can_spend:
        raise InsufficientFunds(
            f"this campaign may cost up to {estimate} {caller.currency}; {can_spend} is available",
            required=estimate, available=can_spend, currency=caller.currency,
        )  # fmt: skip
    campaign_id = ids.new_id("cmp")
    quiet = request.quiet_hours
    params = _json.encode(request.params).decode() if request.params else None
    lists = _json.encode(list(dict.fromkeys(request.lists))).decode()
    repo.insert(
        {"id": campaign_id, "account_id": caller.account_id, "name": request.name, "sender": sender,
         "body": body, "template_id": template_id, "params": params, "lists": lists,
         "numbers": _json.encode(numbers).decode(), "stop_list": request.stop_list,
         "status": CampaignStatus.SCHEDULED.value, "start_at": start,
         "rate_per_minute": request.rate_per_minute, "quiet_start": quiet.start if quiet else None,
         "quiet_end": quiet.end if quiet else None, "recipients": audience, "estimated_cost": estimate,
         "queued": 0, "cost": 0, "skipped_stopped": 0, "skipped_blocked": 0, "skipped_invalid": invalid,
         "numbers_done": False, "cursor": "", "next_run_at": start, "claimed_by": None, "claimed_at": None,
         "error": None, "created_at": now, "updated_at": now, "finished_at": None}
    )  # fmt: skip
    return campaign_id


def _body(conn: Connection, caller: Caller, request: CreateCampaignRequest) -> tuple[str, str | None]:
    if (request.text is None) == (request.template_id is None):
        raise _invalid("text", "give text or template_id, one of them")
    if request.template_id is not None:
        return require_template(conn, caller.account_id, request.template_id)["body"], request.template_id
    assert request.text is not None  # noqa: S101 - checked above
    return checked(request.text), None


def _sender(conn: Connection, caller: Caller, name: str) -> str:
    found = senders.rules(conn, caller.account_id)
    canonical = name if name in found else senders.normalize(name)[1]
    rules = found.get(canonical)
    if rules is None:
        raise _invalid("sender", "unknown sender ID")
    if rules.status != SenderStatus.APPROVED:
        raise SenderNotApproved(f"the sender ID {canonical!r} is {rules.status.value}, not approved")
    return canonical


def _number(raw: str, region: str) -> str | None:
    found = parse_recipient(raw, region)
    return None if isinstance(found, Refusal) else found.e164


def _segments(body: str, params: dict[str, str] | None) -> int:
    """Parts of the text filled with its defaults and the parameters (variables from contacts may
    make one longer: the estimate is a guide, and each chunk is checked again when it is charged)."""
    return analyze(render(body, params or {}).text).segments


def _highest_price(conn: Connection, caller: Caller) -> int:
    prices = price_list(conn, caller.account_id, caller.currency)
    found = [
        p
        for table in (prices.account, prices.default)
        for (_, _, channel), p in table.items()
        if channel == Channel.SMS
    ]
    if not found:
        raise _invalid("lists", "the account has no SMS price")
    return max(found)


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", errors=[{"field": field, "message": message}])


def require(conn: Connection, account_id: str, campaign_id: str) -> RowMapping:
    found = CampaignRepository(conn).get(account_id, campaign_id, lock=True)
    if found is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    return found


def pause(conn: Connection, account_id: str, campaign_id: str, now: datetime) -> None:
    found = require(conn, account_id, campaign_id)
    if CampaignStatus(found["status"]) not in MOVING:
        raise NotCancelable(f"the campaign is {found['status']}; only a scheduled or running one pauses")
    CampaignRepository(conn).set(campaign_id, now, status=CampaignStatus.PAUSED.value)


def resume(conn: Connection, account_id: str, campaign_id: str, now: datetime) -> None:
    found = require(conn, account_id, campaign_id)
    if found["status"] != CampaignStatus.PAUSED:
        raise NotCancelable(f"the campaign is {found['status']}; only a paused one resumes")
    status = CampaignStatus.SCHEDULED if found["start_at"] > now else CampaignStatus.RUNNING
    CampaignRepository(conn).set(
        campaign_id, now, status=status.value, error=None, next_run_at=max(now, found["start_at"])
    )


def cancel(conn: Connection, account_id: str, campaign_id: str, now: datetime) -> int:
    """Stop the campaign for good; the messages it holds for quiet hours are canceled and refunded.
    Returns how many."""
    found = require(conn, account_id, campaign_id)
    if found["status"] in (CampaignStatus.CANCELED, CampaignStatus.DONE) and not CampaignRepository(
        conn
    ).held(campaign_id):
        raise NotCancelable(f"the campaign is {found['status']}")
    repo = CampaignRepository(conn)
    if found["status"] != CampaignStatus.DONE:
        repo.set(campaign_id, now, status=CampaignStatus.CANCELED.value, finished_at=now)
    held = repo.held(campaign_id)
    moved = set(MessageRepository(conn).advance([(m["id"], MessageStatus.CANCELED, None) for m in held], now))
    record_moves(conn, [(m, MessageStatus.CANCELED, "its campaign was canceled") for m in moved], now)
    JobRepository(conn).delete_for_messages(list(moved))
    refund_many(
        conn,
        [
            Refund(m["account_id"], m["id"], m["batch_id"], m["price"], "its campaign was canceled")
            for m in held
            if m["id"] in moved
        ],
        now,
    )
    return len(moved)
