"""The application factory: wires settings, the registry, the data plane and the routes.

`create_app(settings)` builds an app that reads the loader's cache dir; gunicorn runs it
with `service.app:create_app()`, which takes its settings from the environment. Routes
live in route tables (service/api.py and the protocol modules), the work in the data
plane (service/dataplane.py); this module only puts them together.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from service import metrics
from service.api import PolicyApi
from service.dataplane import DataPlane
from service.errors import BadFraming, ServiceError, http_error, routing_error
from service.http import BODY_BUDGET, Route, release_body_budget, release_memory_after_large_bodies
from service.openapi import openapi_document
from service.protocols import oip, tfserving
from service.protocols.oip import OpenInferenceApi
from service.protocols.tfserving import TfServingApi
from service.registry import Registry
from service.settings import Settings


def create_app(settings: Settings | None = None, cache_dir: Path | None = None, watch: bool = True) -> Flask:
    settings = settings or Settings()
    cache_dir = cache_dir or settings.cache_dir  # gunicorn's master sets POLICY_CACHE_DIR for its workers
    if cache_dir is None:
        raise RuntimeError("no cache dir: run under service/gunicorn.conf.py or pass cache_dir")
    registry = Registry(Path(cache_dir))
    try:
        registry.refresh()
    except Exception:  # a worker must boot even if the cache holds something bad: it serves
        # nothing until the loader publishes a good state, and the watcher keeps trying.
        logging.getLogger("service.app").exception("could not read the loader's state; starting empty")
    if watch:
        registry.watch_in_background()
    plane = DataPlane(settings, registry)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    BODY_BUDGET.limit = settings.body_budget_bytes
    app.url_map.converters.update(tfserving.CONVERTERS)
    app.extensions["registry"] = registry
    routes: list[Route] = [
        *PolicyApi(settings, plane).routes(),
        *OpenInferenceApi(settings, plane).routes(),
        *TfServingApi(settings, plane).routes(),
    ]
    document = {}
    routes.append(Route("/openapi.json", "GET", lambda: jsonify(document), "openapi",
                        "This OpenAPI document", "operations"))
    document.update(openapi_document(routes))
    error_styles = {}
    for route in routes:
        endpoint = f"{route.operation_id}"
        app.add_url_rule(route.path, endpoint=endpoint, view_func=route.handler, methods=[route.method])
        error_styles[endpoint] = route.error_style
    _install_hooks(app, error_styles, settings.cors_origins)
    return app


def _install_hooks(app: Flask, error_styles: dict[str, str], cors_origins: list[str]) -> None:
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        # HTTP/1.1 requires Host (RFC 9112, 3.2): a request without one is malformed.
        if request.environ.get("SERVER_PROTOCOL") == "HTTP/1.1" and "Host" not in request.headers:
            raise BadFraming("an HTTP/1.1 request needs a Host header")

    @app.after_request
    def record(response):
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        started = g.get("started")

        def update():
            metrics.requests_counter(route, metrics.method_label(request.method), response.status_code).inc()
            if started is not None:
                metrics.latency_histogram(route).observe(time.perf_counter() - started)

        metrics.record(update)
        if not cors_origins:  # off unless origins are listed in settings
            return response
        origin = request.headers.get("Origin")
        if origin and origin in cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    def native_error(error: ServiceError):
        return jsonify(error.body()), error.status, error.headers

    # One renderer per protocol; a request no route took is answered in the shape of the
    # protocol whose paths it is under.
    renderers = {"native": native_error, "oip": oip.render_error, "tfserving": tfserving.render_error}
    prefixes = (("/v2/", "oip"), ("/v1/", "tfserving"))

    def error_style() -> str:
        style = error_styles.get(request.endpoint)
        if style is None:
            path = request.path if request.path.endswith("/") else request.path + "/"
            style = next((s for prefix, s in prefixes if path.startswith(prefix)), "native")
        return style

    # Runs after the response is built, so the request's objects are already freed.
    app.teardown_request(release_memory_after_large_bodies)
    app.teardown_request(release_body_budget)

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        return renderers[error_style()](error)

    @app.errorhandler(HTTPException)
    def http_exception(error: HTTPException):
        if request.url_rule is None and error.code in (404, 405):
            allowed = error.valid_methods if isinstance(error, MethodNotAllowed) else None
            converted = routing_error(request.method, request.path, allowed)
        else:
            converted = http_error(error.code, error.name or "error", error.description or error.name)
        return renderers[error_style()](converted)
