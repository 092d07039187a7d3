"""Drive ``tests/smsc/node/smsc.js``, an SMSC built on node-smpp, from async tests.

The SMSC is a child process that speaks JSON lines: it writes one event per line on stdout and reads
one command per line on stdin (the protocol is described at the top of ``smsc.js``). ``NodeSmsc``
starts it on a free loopback port, collects every event, and lets a test wait for the next one of a
kind::

    async with NodeSmsc(id_format="hex") as smsc:
        ...  # connect an SMPP client to smsc.host, smsc.port
        submitted = await smsc.next_event("submit_sm")

Leaving the block always ends the process, killing it if it does not stop when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "smsc.js"
INSTALL = "make tests/smsc/node/node_modules"
PASSWORD = "secret"  # smsc.js's default account is qasid/secret

Event = dict[str, Any]


class SmscError(AssertionError):
    """The SMSC could not start, refused a command, or did not say what a test waited for."""


class NodeSmsc:
    host = "127.0.0.1"

    def __init__(
        self,
        *,
        system_id: str = "qasid",
        password: str = PASSWORD,
        id_format: Literal["dec", "hex"] = "dec",
        start_timeout: float = 10.0,
    ) -> None:
        self.system_id = system_id
        self.password = password
        self.id_format = id_format
        self.start_timeout = start_timeout
        self.port = 0
        self.events: list[Event] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Condition()
        self._ended = False
        self._stderr: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if not (NODE_DIR / "node_modules" / "smpp").is_dir():
            raise SmscError(f"node-smpp is not installed in {NODE_DIR}: run `{INSTALL}`")
        args = ["--system-id", self.system_id, "--password", self.password, "--id-format", self.id_format]
        try:
            self._process = await asyncio.create_subprocess_exec(
                "node",
                str(SCRIPT),
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as error:
            raise SmscError("`node` is not on PATH: the test SMSC needs Node.js 20") from error
        self._readers = [asyncio.create_task(self._read_events()), asyncio.create_task(self._read_stderr())]
        try:
            listening = await self.next_event("listening", timeout=self.start_timeout)
        except BaseException:
            await self.stop()
            raise
        self.port = int(listening["port"])

    async def stop(self) -> None:
        """Ask the SMSC to stop, then make sure it has: kill it if it is still there after a second."""
        process = self._process
        if process is None:
            return
        try:
            if process.returncode is None and process.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    process.stdin.write(b'{"cmd":"stop"}\n')
                    await process.stdin.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 1.0)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            for reader in self._readers:
                reader.cancel()
            await asyncio.gather(*self._readers, return_exceptions=True)
            self._process = None

    async def next_event(
        self,
        kind: str,
        timeout: float = 5.0,  # noqa: ASYNC109  (a bound on one wait, handed to asyncio.timeout)
        **match: Any,
    ) -> Event:
        """The earliest event of ``kind`` (with fields equal to ``match``) not returned before."""
        return await self._take(lambda event: _matches(event, kind, match), f"{kind!r} event", timeout)

    async def send_mo(self, sender: str, to: str, text: str, **extra: Any) -> Event:
        """Send a mobile-originated deliver_sm to a bound receiver; the ``mo_sent`` event says what."""
        return await self.command({"cmd": "mo", "from": sender, "to": to, "text": text, **extra}, "mo_sent")

    async def drop(self) -> Event:
        """Destroy every SMPP connection at once, without an unbind."""
        return await self.command({"cmd": "drop"}, "dropped")

    async def command(self, command: Mapping[str, Any], answer: str) -> Event:
        """Write one command and wait for its answer, raising ``SmscError`` if the SMSC refused it."""
        process = self._process
        if process is None or process.stdin is None:
            raise SmscError("the SMSC is not running")
        process.stdin.write(json.dumps(command).encode() + b"\n")
        await process.stdin.drain()
        event = await self._take(lambda event: event["event"] in {answer, "error"}, repr(answer), 5.0)
        if event["event"] == "error":
            raise SmscError(f"the SMSC refused {command}: {event['message']}")
        return event

    async def _take(self, wanted: Callable[[Event], bool], what: str, seconds: float) -> Event:
        try:
            async with asyncio.timeout(seconds), self._changed:
                while True:
                    for index, event in enumerate(self.events):
                        if index not in self._taken and wanted(event):
                            self._taken.add(index)
                            return event
                    if self._ended:
                        raise self._failure(f"the SMSC exited before a {what}")
                    await self._changed.wait()
        except TimeoutError:
            raise self._failure(f"no {what} from the SMSC within {seconds} s") from None

    async def _read_events(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        try:
            async for line in self._process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:  # smsc.js writes only JSON lines to stdout: show the one that is not
                    event = {"event": "not_json", "line": line.decode(errors="replace")}
                async with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._ended = True
                self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self._process is not None
        assert self._process.stderr is not None
        async for line in self._process.stderr:
            self._stderr.append(line.decode(errors="replace"))

    def _failure(self, what: str) -> SmscError:
        recent = "\n".join(json.dumps(event) for event in self.events[-20:])
        return SmscError(f"{what}\nlast events:\n{recent}\nstderr:\n{''.join(self._stderr[-20:])}")


def _matches(event: Event, kind: str, match: Mapping[str, Any]) -> bool:
    return event["event"] == kind and all(event.get(key) == value for key, value in match.items())
