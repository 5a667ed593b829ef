"""The service's own HTTP API: each route parses, asks the data plane, serialises.

The route table (`PolicyApi.routes`) is what Flask registers and what the OpenAPI document
is generated from, so a route cannot be served without being documented.
"""

from __future__ import annotations

from flask import Response, render_template, request

from service import metrics
from service.dataplane import version_reference
from service.errors import MetricsUnavailable, NotReady, PolicyNotFound, UnsupportedForPolicy
from service.http import Api, Route, check_list_lengths, model_response, path_parameter, read_json_body, validate
from service.page import page_policies
from service.presentation import policy_status, policy_table
from policy_client.schemas import (
    ActRequest, ActResponse, HealthResponse, ModelsResponse, ObservationRequest, PolicyStatus,
    PolicyTableResponse, ProbabilitiesResponse, ReadyResponse, ValueResponse,
)

BATCH_FIELDS = ("observations", "action_mask")


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


class PolicyApi(Api):
    """The service's own API: /act, /value, /policy, /models, health, metrics and the page."""

    def routes(self) -> list[Route]:
        predict_errors = (400, 404, 408, 413, 415, 422, 503)
        return [
            Route("/act", "POST", self.act, "act", "Action(s) for the observation(s), sampled or greedy",
                  "policies", ActRequest, ActResponse, predict_errors),
            Route("/value", "POST", self.value, "value", "The critic's V(s) for the observation(s)",
                  "policies", ObservationRequest, ValueResponse, predict_errors),
            Route("/policy", "POST", self.probabilities, "probabilities",
                  "The action distribution for the observation(s): probabilities, or a Box action's mean and std",
                  "policies", ObservationRequest, ProbabilitiesResponse, predict_errors),
            Route("/policy", "GET", self.table, "policyTable",
                  "Every state of a discrete policy: probabilities, greedy action, value (and grid cell)",
                  "policies", None, PolicyTableResponse, (404, 422, 503),
                  (_query("policy", {"type": "string"}), _query("version", {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]}))),
            Route("/models", "GET", self.models, "listModels", "Every policy, its versions and which one is served",
                  "models", None, ModelsResponse),
            Route("/models/<name>", "GET", self.model, "getModel", "One policy's versions", "models",
                  None, PolicyStatus, (404,),
                  (path_parameter("name"),)),
            Route("/models/<name>/versions/<version>/episode.gif", "GET", self.episode, "getEpisode",
                  "A version's rendered greedy episode, an animated GIF (where its environment renders)", "models",
                  None, None, (404, 422, 503), (path_parameter("name"), path_parameter("version"))),
            Route("/healthz", "GET", self.live, "live", "Alive", "health", None, HealthResponse),
            Route("/readyz", "GET", self.ready, "ready", "Ready once a policy is loaded", "health",
                  None, ReadyResponse, (503,)),
            Route("/metrics", "GET", self.metrics, "metrics", "Prometheus metrics, summed over workers", "operations"),
            Route("/", "GET", self.page, "page", "The HTML page: each policy, its versions and curve", "operations"),
        ]

    # ---- policies ----------------------------------------------------------------------

    def _observation_request(self, model):
        document = read_json_body(self.settings.max_body_bytes, self.plane.max_json_values())
        check_list_lengths(document, self.settings.max_batch, BATCH_FIELDS)
        body = validate(model, document, self.settings.max_error_details)
        policy = self.plane.resolve(body.policy, body.version, getattr(body, "seed", None))
        field = "observations" if body.is_batch else "observation"
        return body, policy, self.plane.observations(policy, body.raw_observations, field)

    def act(self) -> Response:
        body, policy, observations = self._observation_request(ActRequest)
        mask = self.plane.action_mask(policy, body.action_mask, len(observations))
        actions = self.plane.act(policy, observations, body.mode == "greedy", body.seed, mask).tolist()
        names = policy.action_labels(actions)  # None for Box actions: their elements are named in /models
        answer = ActResponse(policy=policy.name, version=policy.version, mode=body.mode)
        if body.is_batch:
            answer.actions, answer.action_names = actions, names
        else:
            answer.action, answer.action_name = actions[0], names[0] if names else None
        return model_response(answer, exclude_none=True)

    def value(self) -> Response:
        body, policy, observations = self._observation_request(ObservationRequest)
        values = self.plane.value(policy, observations).tolist()
        answer = ValueResponse(policy=policy.name, version=policy.version)
        if body.is_batch:
            answer.values = values
        else:
            answer.value = values[0]
        return model_response(answer, exclude_none=True)

    def probabilities(self) -> Response:
        body, policy, observations = self._observation_request(ObservationRequest)
        distribution = {name: rows.tolist() for name, rows in self.plane.distribution(policy, observations).items()}
        return model_response(ProbabilitiesResponse(
            policy=policy.name, version=policy.version, action_names=list(policy.action_names),
            **{name: rows if body.is_batch else rows[0] for name, rows in distribution.items()},
        ), exclude_none=True)

    def table(self) -> Response:
        version = version_reference(request.args.get("version"))
        policy = self.plane.resolve(request.args.get("policy"), version)
        if not policy.is_tabular:
            raise UnsupportedForPolicy(
                f"{policy.name} has {policy.observation_space.kind} observations: a whole table exists only "
                "for discrete observation spaces; ask POST /policy with observations instead",
                details=[{"field": "policy", "observation_space": policy.observation_space.kind}],
            )
        self.plane.check_answer_cells(policy.n_states * len(policy.action_names), "states x actions")
        return model_response(policy_table(policy))

    # ---- models and health -------------------------------------------------------------

    def models(self) -> Response:
        snapshot = self.plane.registry.snapshot
        return model_response(ModelsResponse(
            default_policy=self.plane.default_policy_name(snapshot),
            policies=[policy_status(entry) for entry in snapshot.policies.values()],
        ))

    def model(self, name: str) -> Response:
        entry = self.plane.registry.snapshot.policies.get(name)
        if entry is None:
            raise PolicyNotFound(f"no policy named {name[:80]!r}", details=[{"field": "policy"}])
        return model_response(policy_status(entry))

    def episode(self, name: str, version: str) -> Response:
        _, gif = self.plane.episode(name, version_reference(version))
        return Response(gif, content_type="image/gif", headers={"X-Content-Type-Options": "nosniff"})

    def live(self) -> Response:
        return model_response(HealthResponse(status="alive", live=True))

    def ready(self) -> Response:
        snapshot = self.plane.registry.snapshot
        if not snapshot.ready:
            reason = "waiting for the loader" if not snapshot.loader_seen else (
                "no valid policy version under the artifact root" if snapshot.artifact_root_exists
                else "the artifact root does not exist yet")
            raise NotReady(reason)
        if not self.plane.registry.installed_ready:
            raise NotReady("this worker could not read every servable the loader named; retrying")
        unready = self.plane.registry.unready_peers()
        if unready:  # a request may reach any worker: ready only when each of them can answer
            raise NotReady(f"{len(unready)} other worker(s) have not installed a servable policy yet")
        served = {name: e.served.version for name, e in snapshot.policies.items() if e.served}
        return model_response(ReadyResponse(status="ready", ready=True, served=served))

    def metrics(self) -> Response:
        try:
            data, content_type = metrics.exposition()
        except (OSError, ValueError) as exc:  # the metrics directory is gone or not a directory
            raise MetricsUnavailable(f"the metrics files cannot be read: {str(exc)[:200]}") from None
        return Response(data, content_type=content_type)

    def page(self) -> Response:
        return render_template("index.html", policies=page_policies(self.plane.registry.snapshot,
                                                                     self.settings.max_answer_cells))

