"""What a verification SMS says, per locale, with ``{code}``, ``{brand}`` and ``{minutes}``.

English, Arabic and Kurdish (Sorani, Arabic script) out of the box. Arabic script goes as UCS-2,
70 characters to a part, so those texts are kept short enough to go in one part with a brand of up
to 20 characters and a 10-digit code (a test holds them to it). Two optional last lines make
the code easy to take: Android's SMS Retriever wants the app's 11-character hash on the last line,
and WebOTP (``navigator.credentials.get({otp})``) wants ``@domain #code``; with both, the WebOTP line
comes last. The code stays ``{code}`` here: the dispatcher fills it in (``qasid.otp.codes``).
"""

from __future__ import annotations

from qasid.otp.codes import PLACEHOLDER

TEXTS = {  # the Arabic line needs RUF001 off: it takes Arabic letters for look-alikes of Latin ones
    "en": "Your {brand} verification code is {code}. It expires in {minutes} minutes. Do not share it.",
    "ar": "رمز {brand}: {code}\nصالح {minutes} دقيقة. لا تشاركه.",  # noqa: RUF001
    "ku": "کۆدی {brand}: {code}\nبۆ {minutes} خولەک. بە کەسی مەدە.",
}
LOCALES = tuple(TEXTS)


def render(template: str, brand: str, minutes: int, *, app_hash: str | None, web_domain: str | None) -> str:
    """``template`` (one of TEXTS, or an account's own) with ``{code}`` left in place."""
    text = template.format(brand=brand, minutes=minutes, code=PLACEHOLDER)
    if app_hash:
        text += "\n" + app_hash
    if web_domain:
        text += f"\n\n@{web_domain} #{PLACEHOLDER}"
    return text
