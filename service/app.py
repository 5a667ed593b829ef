"""The Flask application: routes validate, ask the policy, serialise. Nothing else.

`create_app(settings)` builds an app that reads the loader's cache dir; gunicorn runs it
with `service.app:create_app()`, which takes its settings from the environment.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from flask import Flask, Response, g, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from service import metrics
from service.errors import (
    InvalidObservation, InvalidRequest, MalformedBody, NotReady, PolicyNotFound, ServiceError,
    UnsupportedMediaType,
)
from service.openapi import openapi_document
from service.page import curve_points, lake_cells
from service.policy import unseeded_generator
from service.registry import Registry
from service.schemas import (
    ActRequest, ActResponse, CellPolicy, ModelsResponse, ObservationRequest, PolicyStatus,
    PolicyTableResponse, ProbabilitiesResponse, ValueResponse,
)
from service.settings import Settings


def json_response(document: str) -> Response:
    """Returns a JSON response around a document pydantic already serialised (faster than
    dumping to a dict for jsonify)."""
    return Response(document, mimetype="application/json")


def _parse_json_body():
    if not request.is_json:
        raise UnsupportedMediaType("send the request body as JSON with 'Content-Type: application/json'")
    raw = request.get_data(cache=False)  # over max_body_bytes -> werkzeug raises 413
    try:
        # NaN and Infinity are not JSON; refuse them here rather than let them reach a model.
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedBody("the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _validate(model, document):
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise InvalidRequest(f"invalid request: {summary}", details=details) from None


def create_app(settings: Settings | None = None, cache_dir: Path | None = None, watch: bool = True) -> Flask:
    settings = settings or Settings()
    cache_dir = cache_dir or settings.cache_dir  # gunicorn's master sets LAKE_CACHE_DIR for its workers
    if cache_dir is None:
        raise RuntimeError("no cache dir: run under service/gunicorn.conf.py or pass cache_dir")
    registry = Registry(settings, Path(cache_dir))
    registry.refresh()
    if watch:
        registry.watch_in_background()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["registry"] = registry

    def observation_request(model):
        body = _validate(model, _parse_json_body())
        if len(body.states) > settings.max_batch:
            raise InvalidRequest(
                f"observations: at most {settings.max_batch} per request, got {len(body.states)}",
                details=[{"field": "observations", "max_items": settings.max_batch}],
            )
        snapshot = registry.snapshot
        policy = registry.resolve(snapshot, body.policy, body.version)
        # Range-checked as Python ints first: JSON integers can be larger than int64.
        highest = max(body.states)
        if highest >= policy.n_states:
            field = "observations" if body.is_batch else "observation"
            raise InvalidObservation(
                f"{field}: states of {policy.name} are 0..{policy.n_states - 1}, got {highest}",
                details=[{"field": field, "minimum": 0, "maximum": policy.n_states - 1}],
            )
        return body, policy, np.asarray(body.states, dtype=np.int64)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def record(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests_counter(route, request.method, response.status_code).inc()
        if hasattr(g, "started"):
            metrics.latency_histogram(route).observe(time.perf_counter() - g.started)
        return response

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        return jsonify(error.body()), error.status, error.headers

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        body = {"error": {"status": error.code, "code": code, "message": error.description, "details": []}}
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        return jsonify(body), error.code, headers

    @app.post("/act")
    def act():
        body, policy, states = observation_request(ActRequest)
        rng = unseeded_generator() if body.seed is None else np.random.default_rng(body.seed)
        actions = policy.act(states, greedy=body.mode == "greedy", rng=rng).tolist()
        names = [policy.action_names[a] for a in actions]
        answer = ActResponse(policy=policy.name, version=policy.version, mode=body.mode)
        if body.is_batch:
            answer.actions, answer.action_names = actions, names
        else:
            answer.action, answer.action_name = actions[0], names[0]
        return json_response(answer.model_dump_json(exclude_none=True))

    @app.post("/value")
    def value():
        body, policy, states = observation_request(ObservationRequest)
        values = policy.value(states).tolist()
        answer = ValueResponse(policy=policy.name, version=policy.version)
        if body.is_batch:
            answer.values = values
        else:
            answer.value = values[0]
        return json_response(answer.model_dump_json(exclude_none=True))

    @app.post("/policy")
    def probabilities():
        body, policy, states = observation_request(ObservationRequest)
        table = policy.probabilities(states).tolist()
        return json_response(ProbabilitiesResponse(
            policy=policy.name, version=policy.version, action_names=list(policy.action_names),
            probabilities=table if body.is_batch else table[0],
        ).model_dump_json())

    @app.get("/policy")
    def policy_table():
        name = request.args.get("policy")
        version = request.args.get("version")
        if version is not None and not version.isdigit():
            raise InvalidRequest("version: must be a positive integer", details=[{"field": "version"}])
        policy = registry.resolve(registry.snapshot, name, int(version) if version else None)
        return jsonify(policy_table_response(policy).model_dump())

    @app.get("/models")
    def models():
        snapshot = registry.snapshot
        return jsonify(ModelsResponse(
            default_policy=registry.default_policy_name(snapshot),
            policies=[policy_status(entry) for entry in snapshot.policies.values()],
        ).model_dump())

    @app.get("/models/<name>")
    def model(name: str):
        entry = registry.snapshot.policies.get(name)
        if entry is None:
            raise PolicyNotFound(f"no policy named {name!r}", details=[{"field": "policy"}])
        return jsonify(policy_status(entry).model_dump())

    @app.get("/")
    def index():
        policies = []
        for entry in registry.snapshot.policies.values():
            served = entry.served
            curve = (served.manifest.get("training") or {}).get("curve", []) if served else []
            policies.append({
                "name": entry.name, "served": served, "versions": entry.versions,
                "cells": lake_cells(served) if served else None,
                "curve": curve_points(curve), "curve_steps": f"{curve[-1][0]:,}" if curve else 0,
            })
        return render_template("index.html", policies=policies)

    # Also under the Open Inference Protocol's names, for probes written for KServe/Triton.
    @app.get("/healthz")
    @app.get("/v2/health/live")
    def healthz():
        return jsonify({"status": "alive"})

    @app.get("/readyz")
    @app.get("/v2/health/ready")
    def readyz():
        snapshot = registry.snapshot
        if not snapshot.ready:
            reason = "waiting for the loader" if not snapshot.loader_seen else (
                "no valid policy version under the artifact root" if snapshot.artifact_root_exists
                else "the artifact root does not exist yet")
            raise NotReady(reason)
        served = {name: e.served.version for name, e in snapshot.policies.items() if e.served}
        return jsonify({"status": "ready", "served": served})

    @app.get("/metrics")
    def metrics_page():
        data, content_type = metrics.exposition()
        return Response(data, content_type=content_type)

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document())

    return app


def policy_status(entry) -> PolicyStatus:
    return PolicyStatus(
        name=entry.name, served_version=entry.served.version if entry.served else None,
        pinned_version=entry.pinned_version, versions=entry.versions,
    )


def policy_table_response(policy) -> PolicyTableResponse:
    desc, width = policy.desc, len(policy.desc[0])
    tiles = "".join(desc)
    probabilities, values, greedy = policy.probabilities_table, policy.values_table, policy.greedy_table
    cells = [
        CellPolicy(
            state=s, row=s // width, col=s % width, tile=tiles[s], probabilities=probabilities[s].tolist(),
            greedy_action=int(greedy[s]), greedy_action_name=policy.action_names[greedy[s]],
            value=float(values[s]),
        )
        for s in range(policy.n_states)
    ]
    return PolicyTableResponse(
        policy=policy.name, version=policy.version, desc=desc, action_names=list(policy.action_names), cells=cells
    )
