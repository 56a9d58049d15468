"""/metrics on a port of its own, in the API's event loop: the public port never shows them.

A minimal HTTP/1.1 responder (one request per connection) is enough for a Prometheus scraper,
and it reads the projection lag through the API's own pool, which a thread-based server
(prometheus_client's) could not.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CONTENT_TYPE_LATEST

from services.api.metrics import render

READ_TIMEOUT = 10.0


async def start_metrics_server(api, host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if target.split("?", 1)[0] == "/metrics" and method in ("GET", "HEAD"):
                status, media, body = "200 OK", CONTENT_TYPE_LATEST, await render(api)
            else:
                status, media, body = "404 Not Found", "text/plain", b"only /metrics here\n"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {media}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # not HTTP, or too slow: nothing to answer
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)
