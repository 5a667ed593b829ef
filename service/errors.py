"""Errors that carry their HTTP status, and the one JSON shape every error is sent in."""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict] | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message, "details": self.details}}


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


class Overloaded(ServiceError):
    """The worker is receiving as many request bodies as its memory budget allows."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after: int = 1):
        # The body is not read: the connection cannot carry another request.
        super().__init__(message, headers={"Retry-After": str(retry_after), "Connection": "close"})


class MetricsUnavailable(ServiceError):
    status, code = 503, "metrics_unavailable"


class NotReady(ServiceError):
    status, code = 503, "not_ready"

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"

    def __init__(self, message: str, details: list[dict] | None = None):
        # The rest of the body is not read: the connection cannot carry another request.
        super().__init__(message, details, headers={"Connection": "close"})


class RequestTimeout(ServiceError):
    status, code = 408, "request_timeout"

    def __init__(self, message: str):
        super().__init__(message, headers={"Connection": "close"})


class BadFraming(ServiceError):
    status, code = 400, "bad_framing"

    def __init__(self, message: str):
        super().__init__(message, headers={"Connection": "close"})


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
