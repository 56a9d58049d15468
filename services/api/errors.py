"""Twilio-style errors: `{"code", "message", "more_info", "status"}` and nothing else.

Every failure a request can meet ends here, so no client ever sees a framework's own error
shape: our ApiError, Litestar's routing and validation errors, and the unavailability of
Kafka or PostgreSQL (503 20503). Anything else is a bug: 500 with code 20500, logged.
"""

from __future__ import annotations

import logging

import asyncpg
import msgspec
from aiokafka.errors import KafkaError
from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException

from services.echo import capped, shown

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "The command bus or the database is unavailable; nothing was changed"
# The largest request body the API reads (app.py gives it to Litestar); here for the 413.
MAX_BODY_BYTES = 64 * 1024


class ErrorBody(msgspec.Struct):
    code: int
    message: str
    more_info: str
    status: int


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, 20001, message)


def not_found(what: str, ref: str) -> ApiError:
    return ApiError(404, 20404, f"The requested {what} {shown(ref)} was not found")


def unavailable() -> ApiError:
    return ApiError(503, 20503, UNAVAILABLE_MESSAGE)


def error_response(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = ErrorBody(
        code=code,
        message=message,
        more_info=f"https://www.twilio.com/docs/errors/{code}",
        status=status,
    )
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


# Failures that mean "a dependency is down", not "this request is wrong".
UNAVAILABLE_ERRORS = (
    OSError,  # connection refused or reset, DNS, timeouts of sockets
    TimeoutError,
    asyncpg.InterfaceError,  # e.g. the connection was closed under us
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    KafkaError,
)


def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _http_error(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotFoundException):
        return error_response(
            404, 20404, f"The requested resource {shown(request.url.path)} was not found"
        )
    if isinstance(exc, MethodNotAllowedException):
        # Twilio's own code for a method a resource does not support.
        return error_response(405, 20004, "Method not allowed", exc.headers)
    if exc.status_code == 413:  # Litestar stops reading a body at MAX_BODY_BYTES
        message = f"The request body is larger than {MAX_BODY_BYTES} bytes (64 KB)"
        return error_response(413, 20413, message)
    if exc.status_code < 500:
        # Litestar's validation of path and query values, malformed requests, bad hosts.
        return error_response(400, 20001, capped(str(exc.detail or "Invalid request"), 128))
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, asyncpg.DataError):
        # PostgreSQL refused a value the request carried (a NUL in a path, say): bad input.
        log.info("%s %s: a value PostgreSQL refuses: %r", request.method, request.url.path, exc)
        return error_response(400, 20001, "A parameter holds a value that cannot be stored")
    if isinstance(exc, UNAVAILABLE_ERRORS):
        log.warning("%s %s: dependency unavailable: %r", request.method, request.url.path, exc)
        return error_response(503, 20503, UNAVAILABLE_MESSAGE)
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, 20500, "Internal server error")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
