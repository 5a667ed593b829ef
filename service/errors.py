"""Errors that carry their HTTP status, and the one JSON shape every error is sent in."""

from __future__ import annotations

from policy_artifacts.spaces import BatchTooLarge, SpaceError, check_batch_size


def error_body(status: int, code: str, message: str, details: list[dict]) -> dict:
    """Returns the service's own JSON error shape (the protocols have theirs)."""
    return {"error": {"status": status, "code": code, "message": message, "details": details}}


class ServiceError(Exception):
    status = 500
    code = "internal_error"
    # The rest of the body is not read: the connection cannot carry another request.
    closes_connection = False
    retry_after: int | None = None  # seconds, for errors that pass

    def __init__(self, message: str, details: list[dict] | None = None, headers: dict | None = None,
                 retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = dict(headers or {})
        retry_after = self.retry_after if retry_after is None else retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)
        if self.closes_connection:
            self.headers["Connection"] = "close"

    def body(self) -> dict:
        return error_body(self.status, self.code, self.message, self.details)


class InvalidRequest(ServiceError):
    status, code = 422, "invalid_request"


class InvalidObservation(InvalidRequest):
    code = "invalid_observation"


class MalformedBody(ServiceError):
    status, code = 400, "malformed_json"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class PolicyNotFound(ServiceError):
    status, code = 404, "policy_not_found"


class VersionNotFound(ServiceError):
    status, code = 404, "version_not_found"


class EpisodeNotFound(ServiceError):
    """The version has no rendered episode (its environment does not render, or it predates them)."""

    status, code = 404, "episode_not_found"


class Overloaded(ServiceError):
    """The worker is receiving as many request bodies as its memory budget allows."""

    status, code = 503, "overloaded"
    retry_after, closes_connection = 1, True


class MetricsUnavailable(ServiceError):
    status, code = 503, "metrics_unavailable"


class NotReady(ServiceError):
    status, code = 503, "not_ready"
    retry_after = 1


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"
    closes_connection = True


class RequestTimeout(ServiceError):
    status, code = 408, "request_timeout"
    closes_connection = True


class BadFraming(ServiceError):
    status, code = 400, "bad_framing"
    closes_connection = True


class UnsupportedForPolicy(ServiceError):
    status, code = 422, "unsupported_for_policy"


class RouteNotFound(ServiceError):
    status, code = 404, "not_found"


class MethodNotAllowed(ServiceError):
    status, code = 405, "method_not_allowed"


class ProbeFalse(ServiceError):
    """A protocol health probe's "false": the Open Inference Protocol answers readiness
    with 200 for true and a 4xx for false. (/readyz is ours: it says 503, as Kubernetes
    expects.)"""

    status, code = 400, "not_ready"


def refused_observations(error: SpaceError) -> InvalidRequest:
    """Returns the service's error for observations a space refused: a batch over the cap
    is an invalid request, anything else an invalid observation (422 either way)."""
    kind = InvalidRequest if isinstance(error, BatchTooLarge) else InvalidObservation
    return kind(error.message, details=error.details)


def refuse_large_batch(count: int, limit: int, field: str) -> None:
    """Raises InvalidRequest for a batch over the cap, where a protocol counts one before
    its elements are read (the spaces' own check, in the service's terms)."""
    try:
        check_batch_size(count, limit, field)
    except BatchTooLarge as exc:
        raise refused_observations(exc) from None


def http_error(status: int, reason: str, message: str) -> ServiceError:
    """Returns an error of the HTTP layer (werkzeug's or gunicorn's) in the service's terms:
    its status, and its reason phrase as the code ("Request Header Fields Too Large" ->
    request_header_fields_too_large)."""
    error = ServiceError(message or reason)
    error.status, error.code = status, reason.lower().replace(" ", "_") or "error"
    return error


def routing_error(method: str, path: str, allowed: list[str] | None) -> ServiceError:
    """Returns the error for a request no route takes: an unknown path, or a known path
    asked with a method it does not have (then `allowed` lists its methods)."""
    if allowed:
        return MethodNotAllowed(f"{method} is not allowed on {path[:200]}; use {', '.join(sorted(allowed))}",
                                headers={"Allow": ", ".join(sorted(allowed))})
    return RouteNotFound(f"no route {method} {path[:200]}")


def protocol_status(error: ServiceError) -> int:
    """Returns the status the Open Inference Protocol and TF Serving give `error`: both
    answer every bad request with 400, where this service's own API says 422 for a
    well-formed request with values it cannot take."""
    return 400 if error.status == 422 else error.status
