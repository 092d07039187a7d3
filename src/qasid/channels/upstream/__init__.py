"""Connectors to upstream HTTP providers, in the seed providers' own dialects: Qasid sending through
an account it holds at such a provider (or at another Qasid, which speaks the same dialects).

``HttpUpstream`` is what they share: one HTTP client per connector, and one reading of the answers.
A network failure, a 5xx, 402 (no credit there), 408, 425 and 429 are transient: the message is
retried and, when its route has another connector, tried there. Any other 4xx is permanent: the
message fails with the provider's code, or ``HTTP_<status>``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from qasid.channels.base import Connector, PermanentError, TransientError

TRANSIENT_STATUSES = frozenset({402, 408, 425, 429})


class HttpUpstream(Connector):
    """A connector whose carrier is an HTTP API."""

    what: ClassVar[str] = "the upstream"  # how errors name the provider

    def __init__(self, connector_id: str, name: str, *, timeout: float, headers: dict[str, str]) -> None:
        super().__init__(connector_id, name)
        self._timeout, self._headers = timeout, headers
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=self._timeout, headers=self._headers)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def call(self, method: str, url: str, **request: Any) -> dict[str, Any]:
        """The provider's answer to a request it took (a 2xx), as a JSON object ({} if it is not
        one); raises ``TransientError`` or ``PermanentError`` otherwise."""
        if self._http is None:
            raise TransientError("NOT_STARTED", "the connector is not started")
        try:
            response = await self._http.request(method, url, **request)
        except httpx.HTTPError as exc:
            raise TransientError("NETWORK", f"{self.what} could not be reached: {exc!r}") from None
        try:
            found = response.json()
        except ValueError:
            found = {}
        answer: dict[str, Any] = found if isinstance(found, dict) else {}
        status = response.status_code
        if status >= 500 or status in TRANSIENT_STATUSES:
            raise TransientError(f"HTTP_{status}", said(answer, response))
        if status >= 400:
            raise PermanentError(str(answer.get("code") or f"HTTP_{status}"), said(answer, response))
        return answer


def said(answer: dict[str, Any], response: httpx.Response) -> str:
    """What the provider said, for the message's error detail."""
    return str(answer.get("message") or response.text[:200] or f"HTTP {response.status_code}")
