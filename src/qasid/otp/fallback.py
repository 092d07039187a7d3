"""Fallback: when a verification's code was not delivered on one channel, send it on the next.

Every send of a verification whose workflow has a channel after the current one leaves a
``fallback`` job on its message, due ``QASID_OTP_CHANNEL_TIMEOUT_SECONDS`` later. The job is
brought forward when the message ends without being delivered (``messages.reports.settle``), and
when it runs (``messages.dispatch``), this module decides inside the write: if the verification is
still pending, this send is still its latest and its message was not delivered, the same code goes
out on the next channel as a new message, priced and charged at that channel's price, with a
fallback job of its own if yet another channel follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection, RowMapping, select

from qasid.accounts.records import Caller
from qasid.accounts.repository import AccountRepository
from qasid.billing.records import Channel
from qasid.billing.service import price_list
from qasid.errors import QasidError
from qasid.messages.accept import accept_sends
from qasid.messages.prepare import PreparedSend, SendCatalog, prepare_send
from qasid.messages.schemas import SendMessageRequest
from qasid.models import batches, messages
from qasid.otp.codes import PLACEHOLDER
from qasid.otp.repository import PENDING, VerificationRepository
from qasid.outbox.records import JobKind, Lane
from qasid.outbox.repository import JobRepository
from qasid.senders.service import rules
from qasid.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    settings: Settings

    @property
    def timeout(self) -> timedelta:
        return timedelta(seconds=self.settings.otp_channel_timeout_seconds)


Sent = tuple[str, list[str], str, datetime]  # (message id, the workflow's channels, its channel, when)


def schedule(conn: Connection, sends: Sequence[Sent], *, policy: FallbackPolicy) -> None:
    """A fallback job for each message that carries a channel's send, when a channel follows it in
    its workflow; one insert for them all (a batch of creates schedules one a verification)."""
    JobRepository(conn).add(
        [
            (JobKind.FALLBACK.value, message_id, now + policy.timeout, 0, now, Lane.URGENT)
            for message_id, channels, channel, now in sends
            if channels.index(channel) + 1 < len(channels)
        ]
    )


def fall_back(conn: Connection, message_id: str, now: datetime, policy: FallbackPolicy) -> str | None:
    """Send the code of the verification that ``message_id`` carried on its next channel (the next
    that takes it: one without a price, say, is passed over); return the new message's id, or None
    when there is nothing to do."""
    found = conn.execute(
        select(batches.c.verification_id, messages.c.account_id)
        .join(messages, messages.c.batch_id == batches.c.id)
        .where(messages.c.id == message_id)
    ).first()
    if found is None or found.verification_id is None:
        return None
    verification_id = found.verification_id
    repo = VerificationRepository(conn)
    row = repo.get(found.account_id, verification_id, lock=True)
    if row is None or row["status"] != PENDING or now >= row["expires_at"]:
        return None
    sends = repo.sends(verification_id)
    if not sends or sends[-1]["message_id"] != message_id or sends[-1]["message_status"] == "delivered":
        return None  # superseded by a later send, or it arrived after all
    channels = row["channels"].split(",")
    body = repo.latest_body(verification_id) or ""
    for channel in channels[channels.index(row["channel"]) + 1 :]:  # a channel that refuses is skipped
        prepared = _prepare(conn, row, channel, body, now=now, settings=policy.settings)
        outcome = prepared if isinstance(prepared, QasidError) else accept_sends(conn, [prepared])[0]
        if isinstance(outcome, QasidError):
            log.warning(
                "fallback refused", verification=verification_id, channel=channel, error=outcome.detail
            )
            continue
        assert isinstance(prepared, PreparedSend)  # noqa: S101 - refusals were skipped above
        new_id = prepared.messages[0].id
        repo.set(verification_id, now, channel=channel, sends=row["sends"] + 1)
        repo.add_sends([(verification_id, channel, new_id, now)])
        schedule(conn, [(new_id, channels, channel, now)], policy=policy)
        log.info("verification fell back", verification=verification_id, channel=channel, message=new_id)
        return new_id
    return None


def _prepare(
    conn: Connection, row: RowMapping, channel: str, body: str, *, now: datetime, settings: Settings
) -> PreparedSend | QasidError:
    account = AccountRepository(conn).get(row["account_id"])
    if account is None:
        return QasidError("the account no longer exists")
    caller = Caller(account.id, "fallback", account.currency, account.default_region, account.payment_type)
    catalog = SendCatalog(
        prices=price_list(conn, account.id, account.currency), senders=rules(conn, account.id)
    )
    remaining = int((row["expires_at"] - now).total_seconds())
    request = SendMessageRequest(
        to=row["recipient"],
        text=body.replace(PLACEHOLDER, "0" * row["code_length"]),
        sender=row["sender"],
        validity=max(settings.min_validity_seconds, remaining),
        stop_list=False,  # as the first send: a code the person asked for goes even after a STOP
    )
    try:
        prepared = prepare_send(caller, catalog, request, settings, now, channel=Channel(channel))
    except QasidError as refused:
        return refused
    prepared.batch = prepared.batch._replace(
        body=body, verification_id=row["id"], callback=row["message_callback"]
    )
    prepared.urgent = True  # a code: someone is waiting for it
    return prepared
