"""Reading requests and writing answers: bounded, strict, and with one error shape.

Every limit is checked before the work it guards: the body's size before it is read
(chunked bodies too), the batch size before per-element validation, and the number of
per-field errors before they are serialised, so a hostile body costs little to refuse.
"""

from __future__ import annotations

import gc
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from flask import Response, g, request
from pydantic import BaseModel, ValidationError

from service.errors import (
    BadFraming, InvalidRequest, MalformedBody, Overloaded, PayloadTooLarge, RequestTimeout, UnsupportedMediaType,
    refuse_large_batch,
)

if TYPE_CHECKING:
    from service.dataplane import DataPlane
    from service.settings import Settings

try:  # the framing errors of gunicorn's body reader (absent under other servers)
    from gunicorn.http.errors import ParseException as _FramingError
except ImportError:  # pragma: no cover
    _FramingError = ValueError


@dataclass(frozen=True)
class Route:
    """One HTTP operation: how Flask dispatches it and how OpenAPI describes it."""

    path: str  # Flask rule, e.g. "/models/<name>"
    method: str
    handler: Callable
    operation_id: str
    summary: str
    tag: str
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    parameters: tuple[dict, ...] = field(default_factory=tuple)
    # Which error shape the route answers in: "native" (the service's own), "oip" or "tfserving".
    error_style: str = "native"


class Api:
    """One protocol's route table over the data plane: each handler parses a request, asks
    the plane, and serialises its answer."""

    def __init__(self, settings: Settings, plane: DataPlane):
        self.settings = settings
        self.plane = plane

    def routes(self) -> list[Route]:  # pragma: no cover - abstract
        raise NotImplementedError


def path_parameter(name: str) -> dict:
    """Returns the OpenAPI description of a string path parameter."""
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def json_response(document: str | bytes, status: int = 200) -> Response:
    """Returns a JSON response around an already serialised document."""
    return Response(document, status=status, mimetype="application/json")


def model_response(model: BaseModel, status: int = 200, exclude_none: bool = False) -> Response:
    return json_response(model.model_dump_json(exclude_none=exclude_none), status)


LARGE_BODY = 256 << 10


SMALL_BODY = 16 << 10  # bodies this small (a single request is ~100 bytes) skip the budget


class BodyBudget:
    """The bytes of large request bodies this worker may hold at once. A body is counted
    from before its first byte is read until its request ends, so a thousand connections
    that each send all but the last byte of a large body cost the budget, not the worker's
    memory. Bodies of at most SMALL_BODY bytes are not counted, so normal requests are
    answered while the budget is full; they are bounded by `worker_connections` instead."""

    def __init__(self, limit: int):
        self.limit, self.held = limit, 0
        self._lock = threading.Lock()

    def reserve(self, size: int) -> bool:
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self.held -= size


BODY_BUDGET = BodyBudget(32 << 20)  # create_app sets the limit from settings


def release_body_budget(_exception=None) -> None:
    """Returns the request's body reservation to the budget (a teardown hook)."""
    reserved = g.pop("body_reserved", 0)
    if reserved:
        BODY_BUDGET.release(reserved)


def read_body_bytes(max_bytes: int) -> bytes:
    """Returns the raw body, read no further than `max_bytes` and no longer than the
    worker's read deadline allows."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"the body is {length} bytes; at most {max_bytes} are accepted",
                              details=[{"field": "body", "max_bytes": max_bytes}])
    reservation = length if length is not None else max_bytes + 1
    if reservation <= SMALL_BODY:
        reservation = 0
    elif not BODY_BUDGET.reserve(reservation):
        raise Overloaded(f"this worker is receiving {BODY_BUDGET.held} bytes of other request bodies, its budget "
                         f"is {BODY_BUDGET.limit} (POLICY_BODY_BUDGET_BYTES); retry shortly")
    g.body_reserved = reservation
    try:
        # Read from the server's stream directly: for a chunked body (no Content-Length)
        # reading one byte past the cap is how we know it is too large.
        raw = request.environ["wsgi.input"].read(max_bytes + 1)
    except TimeoutError:
        raise RequestTimeout("the request body did not arrive in time") from None
    except _FramingError as exc:
        raise BadFraming(f"the body's framing is invalid: {str(exc)[:200]}") from None
    except OSError:  # the client went away mid-body (gunicorn's NoMoreData)
        raise BadFraming("the body ended before its declared length") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes", details=[{"field": "body", "max_bytes": max_bytes}])
    g.body_bytes = len(raw)
    return raw


def read_json_body(max_bytes: int, max_values: int, require_json_type: bool = True) -> Any:
    """Returns the parsed JSON body (see `read_body_bytes` for the bounds).

    A body holding more JSON values than `max_values` (counted as separators and arrays,
    without parsing) is refused before it is parsed: a megabyte of `[],[],...` would
    otherwise become hundreds of thousands of objects to build and throw away.
    """
    if require_json_type and not request.is_json:
        raise UnsupportedMediaType("send the request body as JSON with 'Content-Type: application/json'")
    return parse_json(read_body_bytes(max_bytes), max_values)


def parse_json(raw: bytes, max_values: int, allow_non_finite: bool = False) -> Any:
    """Returns the parsed JSON document, refusing deep nesting, NaN/Infinity (unless
    `allow_non_finite`: TF Serving's JSON mapping has them) and, before parsing, more than
    `max_values` values (see `read_json_body`)."""
    # Each value takes a byte at least, so a body shorter than the budget needs no count.
    values = raw.count(b",") + raw.count(b"[") if len(raw) > max_values else 0
    if values > max_values:
        raise InvalidRequest(
            f"the body holds about {values} JSON values; a request for the served policies needs at most {max_values}",
            details=[{"field": "body", "max_values": max_values}],
        )
    # Parsing makes no reference cycles, but a body of many small lists makes the garbage
    # collector run over and over, and each run walks every object the worker holds: with
    # it paused, a 1 MiB body of 349,000 empty lists parsed in a tenth of the time.
    collecting = gc.isenabled() and len(raw) > LARGE_BODY // 4
    if collecting:
        gc.disable()
    try:
        # NaN and Infinity are not JSON; refuse them here rather than let them reach a model.
        return (_LENIENT_DECODER if allow_non_finite else _DECODER).decode(raw.decode("utf-8"))
    except RecursionError:
        raise MalformedBody("the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {str(exc)[:200]}") from None
    finally:
        if collecting:
            gc.enable()


TRIM_DELAY = 0.5
_trim = {"libc": None, "pending": False, "lock": threading.Lock()}


def release_memory_after_large_bodies(_exception=None) -> None:
    """Gives freed memory back to the OS soon after a request with a large body.

    A 1 MiB JSON body can become tens of MB of small Python objects; once they are freed,
    glibc keeps the pages for reuse, so a worker's resident size would stay at its peak.
    `malloc_trim` returns them. It runs half a second later, once the server has released
    its own buffers of the request too, and once for any number of large requests meanwhile.
    """
    if g.get("body_bytes", 0) < LARGE_BODY:
        return
    with _trim["lock"]:
        if _trim["pending"]:
            return
        _trim["pending"] = True
    timer = threading.Timer(TRIM_DELAY, _malloc_trim)
    timer.daemon = True
    timer.start()


def _malloc_trim() -> None:
    with _trim["lock"]:
        _trim["pending"] = False
    if _trim["libc"] is None:
        import ctypes
        import ctypes.util

        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _trim["libc"] = libc if hasattr(libc, "malloc_trim") else False
        except OSError:  # not glibc: nothing to trim
            _trim["libc"] = False
    if _trim["libc"]:
        _trim["libc"].malloc_trim(0)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_LENIENT_DECODER = json.JSONDecoder()


def validate(model: type[BaseModel], document: Any, max_details: int) -> BaseModel:
    """Returns the document validated as `model`, or raises InvalidRequest listing at most
    `max_details` of its errors (and how many there were)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        details = [
            {"field": ".".join(str(p) for p in e["loc"])[:200] or "body", "message": e["msg"][:200], "type": e["type"]}
            for e in errors[:max_details]
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        more = f" (and {len(errors) - len(details)} more)" if len(errors) > len(details) else ""
        raise InvalidRequest(f"invalid request: {summary}{more}", details=details) from None


def check_list_lengths(document: Any, limit: int, fields: tuple[str, ...]) -> None:
    """Raises InvalidRequest if any of `fields` is a list longer than `limit`, before any
    element is validated."""
    if not isinstance(document, dict):
        return
    for name in fields:
        value = document.get(name)
        if isinstance(value, list):
            refuse_large_batch(len(value), limit, name)
