"""One webhook attempt over HTTP, as Twilio makes them: signed, guarded, bounded.

`Sender.send(Request(...))` makes one attempt and says what came of it (`Attempt`): delivered
(2xx), retryable (no connection, a timeout, 5xx, 429) or a permanent failure (another status,
a refused address). Retrying is the caller's, with backoff.py.

How the guard holds (target.py): each URL, the first and every redirect's, is checked, its
host resolved once and every answer checked, and the request goes to one of exactly those
addresses. With httpx that means asking for the URL with the address in place of the host,
and giving the host back where it is needed: the Host header and, for https, the TLS server
name (`sni_hostname`), against which the certificate is also verified. This needs only httpx's
public API; a custom transport or network backend would reach into httpcore, and aiohttp (whose
resolver is pluggable) is not a runtime dependency. Two things make it hold:
- no proxy from the environment (trust_env=False): a proxy would resolve the name itself;
- no pooled connections (max_keepalive_connections=0): the pool is keyed by address, so a
  TLS connection made for one customer's name could otherwise carry another's request to the
  same address (a shared CDN). Webhooks to one host are seldom close enough together to miss it.

Bounded: one timeout covers the attempt (redirects and reading included); at most 3 redirects;
a response body is read to 64 KiB at most, raw (no decompression); and at most `per_host`
requests are in flight to one host:port, so a slow customer cannot hold all the sender's
capacity (a request holds the slot of the host it is talking to, one hop at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from urllib.parse import urlencode

import httpx

from services.delivery.signature import HEADER as SIGNATURE_HEADER
from services.delivery.signature import signature
from services.delivery.target import Policy, Refused, Target, check_url, resolve

USER_AGENT = "fleetstate-webhooks/0.1"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
BODY_CAP = 64 * 1024
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Request:
    """A webhook to send: POST puts `params` in a form body, GET in the query string. The
    signature is made with `auth_token` (the account's, opened from its seal); the
    `idempotency_token` is the same on every attempt of one delivery, so the customer can tell
    a retry from a new event. `headers` are extra ones; ours win over them."""

    method: str
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)
    _: KW_ONLY
    auth_token: str = field(repr=False)
    idempotency_token: str

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ValueError(f"webhooks are GET or POST, not {self.method!r}")


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to. `status` is the last response's (None: none came), `latency`
    the seconds from the first request's start to the end, `error` what went wrong (None when
    delivered), `body` the first 64 KiB at most of the last response."""

    outcome: Outcome
    status: int | None
    latency: float
    error: str | None
    body: bytes = field(default=b"", repr=False)

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @property
    def retryable(self) -> bool:
        return self.outcome is Outcome.RETRYABLE

    @property
    def permanent(self) -> bool:
        return self.outcome is Outcome.PERMANENT


def classify(status: int) -> Outcome:
    """2xx is delivered; 5xx and 429 (the customer is down or busy) are worth retrying; any
    other status (a 404, a 3xx that is not followed) will not change by itself."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status == 429:
        return Outcome.RETRYABLE
    return Outcome.PERMANENT


class _Failed(Exception):
    """Ends an attempt early with this outcome and error."""

    def __init__(self, outcome: Outcome, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.outcome, self.error, self.status = outcome, error, status


class Sender:
    """Sends webhook attempts; one per process, shared by all deliveries (the per-host cap is
    per Sender). Close it with `aclose()` or `async with`."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        timeout: float = 10.0,
        per_host: int = 4,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._policy = policy or Policy()
        self._timeout = timeout
        self._slots = _HostSlots(per_host)
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            verify=verify,
            timeout=timeout,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )

    @classmethod
    def from_settings(cls, settings, **options) -> Sender:
        """From FLEETSTATE_WEBHOOK_ALLOW, _TIMEOUT_SECONDS and _PER_HOST."""
        return cls(
            Policy.parse(settings.webhook_allow),
            timeout=settings.webhook_timeout_seconds,
            per_host=settings.webhook_per_host,
            **options,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def send(self, request: Request) -> Attempt:
        """One attempt at `request`, following at most 3 redirects. Never raises for what the
        network or the customer did: that is in the Attempt. The timeout starts once the
        request has a slot of its host (waiting for one is not the customer's time)."""
        started: float | None = None
        status: int | None = None
        try:
            url = _requested_url(request)
            form = dict(request.params) if request.method == "POST" else None
            headers = _headers(request, url, form)
            method = request.method
            async with asyncio.timeout(None) as budget:
                for hop in range(MAX_REDIRECTS + 1):
                    target = _checked(url, hop)
                    async with self._slots.take((target.host, target.port)):
                        if started is None:
                            started = time.monotonic()
                            budget.reschedule(asyncio.get_running_loop().time() + self._timeout)
                        try:
                            response, body = await self._exchange(
                                target, method, url, headers, form
                            )
                        except _Failed as failed:
                            if hop:  # say where the redirects led
                                failed.error = f"redirected to {url}: {failed.error}"
                            raise
                    status = response.status_code
                    location = response.headers.get("location")
                    if status not in REDIRECTS or location is None:
                        outcome = classify(status)
                        error = None if outcome is Outcome.DELIVERED else _status_text(response)
                        return Attempt(outcome, status, _since(started), error, body)
                    if hop == MAX_REDIRECTS:
                        raise _Failed(
                            Outcome.PERMANENT, f"more than {MAX_REDIRECTS} redirects", status
                        )
                    url = _redirected_url(url, location)
                    # As browsers and httpx do: 303, and 301/302 after a POST, go on as a GET.
                    if status == 303 or (status in (301, 302) and method == "POST"):
                        method, form = "GET", None
        except _Failed as failed:
            return Attempt(failed.outcome, failed.status or status, _since(started), failed.error)
        except httpx.InvalidURL as exc:  # a URL httpx cannot send, though it parsed
            return Attempt(Outcome.PERMANENT, status, _since(started), f"invalid URL: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return Attempt(
                Outcome.RETRYABLE, None, _since(started), f"timed out after {self._timeout:g} s"
            )
        raise AssertionError("unreachable: the loop returns or raises")

    async def _exchange(
        self,
        target: Target,
        method: str,
        url: str,
        headers: httpx.Headers,
        form: dict[str, str] | None,
    ) -> tuple[httpx.Response, bytes]:
        """The response from one of the addresses `target` resolves to (the next one if one
        cannot be connected to), and its body to the cap (none for a redirect)."""
        try:
            addresses = await resolve(target, self._policy)
        except OSError as exc:  # the name does not resolve now: perhaps it will later
            raise _Failed(
                Outcome.RETRYABLE, f"could not resolve {target.host}: {exc.strerror or exc}"
            ) from None
        if isinstance(addresses, Refused):
            raise _Failed(Outcome.PERMANENT, addresses.reason)
        wire = httpx.URL(url)
        # The customer's host goes where the address cannot: Host, and TLS's server name.
        headers = headers.copy()
        headers["Host"] = wire.netloc.decode("ascii")
        extensions = {}
        if target.scheme == "https" and not _is_address(target.host):
            extensions["sni_hostname"] = wire.raw_host.decode("ascii")
        for place, address in enumerate(addresses, start=1):
            outgoing = self._client.build_request(
                method,
                wire.copy_with(host=str(address)),
                headers=headers,
                data=form,
                extensions=extensions,
            )
            try:
                response = await self._client.send(outgoing, stream=True)
            except httpx.ConnectError as exc:
                if place < len(addresses):
                    continue  # nothing was sent: the next address is as good
                raise _Failed(
                    Outcome.RETRYABLE, f"could not connect to {address} ({target.host}): {exc}"
                ) from None
            except httpx.TimeoutException:
                raise
            except httpx.TransportError as exc:
                raise _Failed(
                    Outcome.RETRYABLE, f"connection to {address} ({target.host}) failed: {exc}"
                ) from None
            try:
                if response.status_code in REDIRECTS:
                    return response, b""
                return response, await _read_capped(response)
            except httpx.TimeoutException:
                raise
            except httpx.TransportError as exc:
                raise _Failed(
                    Outcome.RETRYABLE,
                    f"reading the response of {target.host} failed: {exc}",
                    response.status_code,
                ) from None
            finally:
                await response.aclose()
        raise AssertionError("unreachable: resolve returns at least one address")


def _requested_url(request: Request) -> str:
    """The URL requested (and signed): the customer's, with a GET's params added to its query
    string, normalised as httpx sends it, and without the fragment, which is never sent."""
    try:
        wire = httpx.URL(request.url).copy_with(fragment=None)
    except httpx.InvalidURL as exc:
        raise _Failed(Outcome.PERMANENT, f"refused: webhook URL is not valid: {exc}") from None
    if request.method == "GET" and request.params:
        query = "&".join(q for q in (wire.query.decode("ascii"), urlencode(request.params)) if q)
        wire = wire.copy_with(query=query.encode("ascii"))
    return str(wire)


def _headers(request: Request, url: str, form: dict[str, str] | None) -> httpx.Headers:
    headers = httpx.Headers(request.headers)
    headers["User-Agent"] = USER_AGENT
    headers[SIGNATURE_HEADER] = signature(request.auth_token, url, form)
    headers[IDEMPOTENCY_HEADER] = request.idempotency_token
    headers["Accept"] = "*/*"
    headers["Accept-Encoding"] = "identity"  # the body is read raw, and capped
    return headers


def _checked(url: str, hop: int) -> Target:
    target = check_url(url)
    if isinstance(target, Refused):
        raise _Failed(
            Outcome.PERMANENT, f"redirected to {url}: {target.reason}" if hop else target.reason
        )
    return target


def _redirected_url(url: str, location: str) -> str:
    try:
        return str(httpx.URL(url).join(location).copy_with(fragment=None))
    except httpx.InvalidURL as exc:
        raise _Failed(Outcome.PERMANENT, f"redirected to an invalid URL: {exc}") from None


def _status_text(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _since(started: float | None) -> float:
    return 0.0 if started is None else time.monotonic() - started


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


async def _read_capped(response: httpx.Response) -> bytes:
    """The body's first BODY_CAP bytes; the rest is never read (closing drops it)."""
    chunks: list[bytes] = []
    size = 0
    async with contextlib.aclosing(response.aiter_raw()) as stream:
        async for chunk in stream:
            chunks.append(chunk[: BODY_CAP - size])
            size += len(chunks[-1])
            if size >= BODY_CAP:
                break
    return b"".join(chunks)


class _HostSlots:
    """A semaphore per host:port, made on first use and dropped once no request holds or waits
    for it (webhook hosts are many, and most are called seldom)."""

    def __init__(self, per_host: int) -> None:
        if per_host < 1:
            raise ValueError(f"per_host must be at least 1, not {per_host}")
        self._per_host = per_host
        self._slots: dict[tuple[str, int], _Slot] = {}

    @contextlib.asynccontextmanager
    async def take(self, key: tuple[str, int]) -> AsyncIterator[None]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(asyncio.Semaphore(self._per_host))
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]


@dataclass
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0
