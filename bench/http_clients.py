"""Which HTTP client the webhook sender uses: `python bench/http_clients.py [--calls 3000]`.

Each client POSTs the same small JSON body to the same local keep-alive server (the tests' HTTP/1.1
server, in this process) with 64 calls in flight, as the sender does for a busy endpoint, and prints
calls per second and the CPU per call (client and server together, so read them as a ratio: the
server's share is the same in every row). Bounded by --calls.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.httpserver import HttpRequest, HttpResponse, LocalHttpServer

BODY = b'{"type":"message.status","data":{"id":"msg_x","status":"delivered"}}'
HEADERS = {"content-type": "application/json"}
IN_FLIGHT = 64


async def ok(_request: HttpRequest) -> HttpResponse:
    return HttpResponse(204)


async def with_httpx(url: str, calls: int, limits: httpx.Limits) -> None:
    async with httpx.AsyncClient(limits=limits) as client:

        async def one() -> None:
            async with client.stream("POST", url, content=BODY, headers=HEADERS) as response:
                async for _ in response.aiter_raw():
                    pass

        await _many(one, calls)


async def with_aiohttp(url: str, calls: int) -> None:
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.content.read(1024)

        await _many(one, calls)


async def _many(one: Callable[[], Awaitable[None]], calls: int) -> None:
    room = asyncio.Semaphore(IN_FLIGHT)

    async def limited() -> None:
        async with room:
            await one()

    await asyncio.gather(*(limited() for _ in range(calls)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    async with LocalHttpServer(ok) as server:
        url = server.base_url + "/hooks"
        runs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("httpx 0.28, pool 256 / keep-alive 64", lambda: with_httpx(url, args.calls, httpx.Limits(
                max_connections=256, max_keepalive_connections=64))),
            ("httpx 0.28, pool 16", lambda: with_httpx(url, args.calls, httpx.Limits(
                max_connections=16, max_keepalive_connections=16))),
            (f"aiohttp {aiohttp.__version__}", lambda: with_aiohttp(url, args.calls)),
        ]  # fmt: skip
        print(f"{args.calls} POSTs, {IN_FLIGHT} in flight, to a local keep-alive server")
        print(f"{'client':<40} {'calls/s':>9} {'CPU us/call':>12}")
        for name, run in runs:
            cpu, wall = time.process_time(), time.monotonic()
            await run()
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            print(f"{name:<40} {args.calls / wall:>9,.0f} {cpu / args.calls * 1e6:>12,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
