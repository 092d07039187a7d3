"""StandingTech's OTP API v4 error codes (seed ``000``), and which Qasid error answers with which.

``CODES`` is the provider's list as published. ``code_of`` picks the code for an error a v4 request
met: a field's own code when the v4 front door named one (``v4_code`` on the error), else by the
error's class and, for refused recipients, by the reason. docs/migrating/standingtech.md has the
table of every code with the case that produces it, or why none does; a test keeps the two agreeing.
"""

from __future__ import annotations

from qasid.errors import (
    AccountSuspended,
    ActiveVerificationExists,
    ActiveVerificationsLimit,
    AuthenticationError,
    ChannelUnavailable,
    CountryNotAllowed,
    DailyLimitReached,
    ExpiredApiKey,
    InsufficientFunds,
    InvalidRequest,
    MalformedBody,
    MissingApiKey,
    NotFound,
    NoValidRecipients,
    NumberRateLimited,
    PayloadTooLarge,
    PrefixRateLimited,
    QasidError,
    RateLimited,
    SenderNotApproved,
    TextTooLong,
    Unavailable,
    UnknownSender,
)

CODES: dict[int, str] = {
    1000: "Bad Request - The request could not be understood",
    1001: "Invalid Request - Check the API Endpoint",
    1002: "Unauthorized - No API Key found",
    1003: "Invalid format",
    1004: "Missing SenderID",
    1005: "Forbidden - Access denied",
    1006: "Resource not found",
    1007: "Request method not allowed",
    1008: "Too many requests - Rate limit exceeded",
    1009: "Internal Server Error",
    1010: "Bad Request - Do not use Auto here",
    1011: "Invalid format of WhatsApp Request",
    1012: "Bad Request - type or Channel was empty or Invalid",
    1013: "Bad Request - Fallback was empty or Invalid use only (none, whatsapp, telegram)",
    1100: "Authentication required",
    1101: "Invalid API Key",
    1102: "Expired API Key",
    1103: "Invalid or missing token",
    1104: "Access denied - Insufficient permissions",
    1105: "Account suspended or blocked",
    1106: "Not allowed to use this SenderID for the given API KEY",
    1107: "Your account has been disabled please contact admin",
    1200: "Missing required parameter(s)",
    1201: "Invalid parameter value",
    1202: "Invalid JSON format",
    1203: "Message body cannot be empty",
    1204: "Invalid phone number format",
    1205: "Sender ID contains invalid characters",
    1206: "Sender ID is too long",
    1207: "Receiver number is required",
    1208: "Receiver number is blacklisted",
    1209: "Please set your SenderID in the sender_id parameter!",
    1210: "Pricing Error for Given SenderID please contact admin now",
    1211: "International numbers disabled or Invalid Number",
    1212: "Invalid Parameters - code must be set to Auto",
    1213: "Invalid Parameters - Param2 is missing",
    1214: "Invalid Parameters - Param3 is missing",
    1215: "Invalid or missing template ID",
    1216: "Invalid Phone Number for Iraq",
    1217: "Invalid Type",
    1218: "Only sms/telegram allowed as fallback for WhatsApp",
    1219: "Message Format was invalid",
    1300: "Too many requests - Slow down",
    1301: "Daily quota exceeded",
    1302: "Monthly quota exceeded",
    1303: "Message sending limit reached",
    1400: "Database connection error",
    1401: "Database query failed",
    1402: "Record not found",
    1403: "Duplicate entry - Already exists",
    1500: "Invalid SMS content",
    1501: "SMS message too long",
    1502: "SMS sending failed",
    1503: "Insufficient balance to send message",
    1504: "SMS gateway unavailable",
    1505: "SMS delivery failed",
    1506: "Invalid OTP request",
    1507: "expired",
    1508: "OTP already used",
    1509: "Missing (Code or ID) parameter",
    1510: "Invalid ID in the request",
    1511: "Invalid Phone number in the request",
    1512: "failed",
    1513: "Invalid Format - Message or Param is missing",
    1600: "API endpoint not found",
    1601: "Unsupported API version",
    1602: "Unsupported media type",
    1603: "Bad gateway - Third-party service issue",
    1700: "Payment required",
    1701: "Invalid payment method",
    1702: "Payment failed",
    1703: "Subscription expired",
    1704: "Transaction declined",
    1800: "Unexpected server error",
    1801: "Service temporarily unavailable",
    1802: "Configuration error",
    1803: "Server under maintenance",
    1804: "Unknown Error, Please contact admin",
    1805: "Unknown Route please contact admin",
    1900: "Suspicious activity detected",
    1901: "Account flagged for fraud",
    1902: "API abuse detected",
    1903: "IP address blacklisted",
    1904: "Access denied due to country restrictions",
    1905: "Daily Limit Exceeded please contact admin to whitelist required numbers",
    1906: "Hourly Limit Exceeded please contact admin to whitelist required numbers",
    1907: "Only Two OTP request allowed in 30 seconds",
}

# By class, most specific first (the first match wins).
_BY_CLASS: tuple[tuple[type[QasidError], int], ...] = (
    (MissingApiKey, 1002),
    (ExpiredApiKey, 1102),
    (AuthenticationError, 1101),  # invalid or revoked
    (AccountSuspended, 1105),
    (SenderNotApproved, 1106),
    (UnknownSender, 1106),
    (InsufficientFunds, 1503),
    (NumberRateLimited, 1907),
    (ActiveVerificationExists, 1300),
    (DailyLimitReached, 1905),
    (PrefixRateLimited, 1906),
    (ActiveVerificationsLimit, 1303),
    (RateLimited, 1008),
    (CountryNotAllowed, 1904),
    (ChannelUnavailable, 1012),
    (TextTooLong, 1501),
    (MalformedBody, 1202),
    (PayloadTooLarge, 1000),
    (NotFound, 1006),
    (Unavailable, 1801),
    (InvalidRequest, 1201),
)

# A refused recipient's reason (docs/errors.md) -> code.
_BY_REASON = {
    "stopped": 1208,
    "blocked": 1208,
    "no_price": 1210,
    "sender_not_approved": 1106,
}


def code_of(exc: QasidError) -> int:
    """The v4 code for an error a v4 request met."""
    if (given := exc.extra.get("v4_code")) is not None:
        return int(given)
    if isinstance(exc, NoValidRecipients):
        return _refused(exc)
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    return 1000


def _refused(exc: NoValidRecipients) -> int:
    invalid = exc.extra.get("invalid") or [{}]
    first = invalid[0]
    if (code := _BY_REASON.get(first.get("reason", ""))) is not None:
        return code
    return number_code(str(first.get("to", "")))


def number_code(number: str) -> int:
    """The code for a recipient that is not a mobile Qasid can send to."""
    digits = number.lstrip("+")
    if not digits.isdigit():
        return 1204  # not a phone number at all
    return 1216 if digits.startswith("964") else 1211  # an Iraqi number that is not one, or a foreign one
