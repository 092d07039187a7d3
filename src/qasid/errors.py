"""Errors that reach a caller. Each class carries its HTTP status and a stable machine code.

The native API renders them as RFC 9457 problem documents (``qasid.api.problems``); dialects map the
same classes to their own codes. ``docs/errors.md`` is generated from this module
(``python -m qasid.api.problems``) and a test keeps the two equal.

    QasidError
    ├── AuthenticationError (401): MissingApiKey, InvalidApiKey, RevokedApiKey, ExpiredApiKey
    ├── AccountSuspended (403)
    ├── SenderNotApproved (403)
    ├── InsufficientFunds (402)
    ├── NotFound (404)
    ├── NotCancelable (409), SenderExists (409), NumberTaken (409), ListExists (409),
    │   TemplateExists (409)
    ├── VerificationClosed (409), MaxSendsReached (409)
    ├── CountryNotAllowed (403)
    ├── RateLimited (429): NumberRateLimited, ActiveVerificationExists, DailyLimitReached,
    │   ActiveVerificationsLimit, PrefixRateLimited
    ├── IdempotencyKeyReused (422)
    ├── InvalidRequest (422): UnknownSender, NoValidRecipients, TextTooLong, InvalidSchedule,
    │   ChannelUnavailable
    ├── MalformedBody (400)
    ├── PayloadTooLarge (413)
    └── Unavailable (503)
"""

from __future__ import annotations

from typing import Any, ClassVar


class QasidError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class AuthenticationError(QasidError):
    status = 401
    code = "authentication_failed"
    title = "Authentication failed"


class MissingApiKey(AuthenticationError):
    """No ``Authorization: Bearer <key>`` header was sent."""

    code = "missing_api_key"
    title = "API key missing"


class InvalidApiKey(AuthenticationError):
    """The key is malformed or no such key exists."""

    code = "invalid_api_key"
    title = "API key invalid"


class RevokedApiKey(AuthenticationError):
    """The key existed but was revoked (``qasid keys revoke``)."""

    code = "revoked_api_key"
    title = "API key revoked"


class ExpiredApiKey(AuthenticationError):
    """The key's expiry time has passed."""

    code = "expired_api_key"
    title = "API key expired"


class AccountSuspended(QasidError):
    """The key is good but its account is suspended (``qasid accounts suspend``)."""

    status = 403
    code = "account_suspended"
    title = "Account suspended"


class SenderNotApproved(QasidError):
    """The account owns this sender ID but it is not approved (pending or rejected)."""

    status = 403
    code = "sender_not_approved"
    title = "Sender ID not approved"


class InsufficientFunds(QasidError):
    """The request costs more than the account has available; nothing was sent or charged.

    The problem carries ``required``, ``available`` and ``currency`` (minor units)."""

    status = 402
    code = "insufficient_funds"
    title = "Insufficient funds"


class NotFound(QasidError):
    """No such resource in the caller's account (other accounts' resources are never revealed), or no
    such path."""

    status = 404
    code = "not_found"
    title = "Not found"


class SenderExists(QasidError):
    """The account already has (or already asked for) this sender ID."""

    status = 409
    code = "sender_exists"
    title = "Sender ID exists"


class NumberTaken(QasidError):
    """The number is held already, or assigned to another account."""

    status = 409
    code = "number_taken"
    title = "Number taken"


class ListExists(QasidError):
    """The account has a contact list of that name already."""

    status = 409
    code = "list_exists"
    title = "List exists"


class TemplateExists(QasidError):
    """The account has a template of that name already."""

    status = 409
    code = "template_exists"
    title = "Template exists"


class NotCancelable(QasidError):
    """Only scheduled messages can be canceled; this one is past that."""

    status = 409
    code = "not_cancelable"
    title = "Message cannot be canceled"


class VerificationClosed(QasidError):
    """The verification is no longer pending (approved, canceled, expired or failed): its code cannot
    be checked again, resent or canceled. ``verification_status`` says which."""

    status = 409
    code = "verification_closed"
    title = "Verification closed"


class MaxSendsReached(QasidError):
    """The code was already sent as many times as allowed (default 5); start a new verification."""

    status = 409
    code = "max_sends_reached"
    title = "Code sent too many times"


class CountryNotAllowed(QasidError):
    """The account may not send verifications to this country (by default, only to its own)."""

    status = 403
    code = "country_not_allowed"
    title = "Country not allowed"


class RateLimited(QasidError):
    """Too many requests of this kind; ``retry_after`` (also the ``Retry-After`` header) says how many
    seconds to wait."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"


class NumberRateLimited(RateLimited):
    """This number was sent more verifications in the last window than allowed (default 2 in 30 s)."""

    code = "number_rate_limited"
    title = "Too many verifications for this number"


class ActiveVerificationExists(RateLimited):
    """This number has a pending verification younger than the grace period (default 30 s): check or
    cancel it, or wait."""

    code = "active_verification_exists"
    title = "A verification is already pending for this number"


class PrefixRateLimited(RateLimited):
    """Numbers of one block (all but the last 3 digits alike, by default) were sent more verifications
    in the window than allowed (default 30 an hour): the mark of SMS pumping."""

    code = "prefix_rate_limited"
    title = "Too many verifications for this block of numbers"


class DailyLimitReached(RateLimited):
    """This number was sent as many verifications today as allowed (default 10 in 24 hours)."""

    code = "daily_limit_reached"
    title = "Daily verification limit reached for this number"


class ActiveVerificationsLimit(RateLimited):
    """The account has as many pending verifications as it may have at once."""

    code = "active_verifications_limit"
    title = "Too many pending verifications"


class IdempotencyKeyReused(QasidError):
    """The ``Idempotency-Key`` was already used with a different request body."""

    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


class InvalidRequest(QasidError):
    """A field is missing, of the wrong type or out of range. ``errors`` lists each field at fault."""

    status = 422
    code = "invalid_request"
    title = "Invalid request"


class UnknownSender(InvalidRequest):
    """The account has no sender ID by that name."""

    code = "unknown_sender"
    title = "Unknown sender ID"


class NoValidRecipients(InvalidRequest):
    """Every recipient was refused; ``invalid`` gives the reason for each."""

    code = "no_valid_recipients"
    title = "No valid recipients"


class TextTooLong(InvalidRequest):
    """The text is longer than the configured limit (default 612 GSM-7 septets or 268 UCS-2 units)."""

    code = "text_too_long"
    title = "Text too long"


class InvalidSchedule(InvalidRequest):
    """``schedule_at`` is in the past or further ahead than allowed (default 35 days)."""

    code = "invalid_schedule"
    title = "Invalid schedule time"


class ChannelUnavailable(InvalidRequest):
    """A channel of the workflow has no route on this gateway, or is named twice."""

    code = "channel_unavailable"
    title = "Channel unavailable"


class MalformedBody(QasidError):
    """The body is not valid JSON, or not UTF-8."""

    status = 400
    code = "malformed_body"
    title = "Malformed request body"


class PayloadTooLarge(QasidError):
    """The body is larger than the configured limit (default 1 MiB)."""

    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class Unavailable(QasidError):
    """The database could not be reached or the write failed; nothing was accepted. Retry later
    (with the same ``Idempotency-Key`` to be safe)."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


def all_errors() -> list[type[QasidError]]:
    """Every error class of this module, in a stable order (a dialect's own subclasses, which only
    carry its provider's bodies, are not Qasid's errors)."""
    found: list[type[QasidError]] = []
    stack: list[type[QasidError]] = [QasidError]
    while stack:
        cls = stack.pop(0)
        found.append(cls)
        stack.extend(sub for sub in cls.__subclasses__() if sub.__module__ == __name__)
    return found
