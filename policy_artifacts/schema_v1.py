"""Reading schema-1 manifests, the format before schema 2, for artifacts still on users' volumes.

Schema 1 was written for FrozenLake alone: its environment carried the map as `env.desc`
and its evaluation three success rates. This module is the one place that knows those
fields; `upgraded_fields` turns a schema-1 document into schema-2 fields, which
`policy_artifacts.manifest.parse_manifest` then validates like any other manifest.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from policy_artifacts.spaces import MAX_STATES, StrictModel

# Schema 1 recorded no legend: its one environment's, as its trainer drew the map.
LEGEND = {"S": "start", "F": "frozen", "H": "hole", "G": "goal"}
TERMINAL = "HG"
ENV_ID = "FrozenLake-v1"


class _EnvSpec(StrictModel):
    id: str = ENV_ID
    kwargs: dict[str, Any]
    desc: list[str] = Field(min_length=1)  # bounded as the layout's rows, once upgraded


class _Space(StrictModel):
    n: int = Field(gt=0, le=MAX_STATES)


class _Evaluation(StrictModel):
    success_rate: float = Field(ge=0, le=1)
    sampled_success_rate: float | None = Field(None, ge=0, le=1)
    optimal_success_rate: float = Field(ge=0, le=1)
    method: str = Field(max_length=256)


class _Manifest(StrictModel):
    """The fields schema 1 wrote differently; the others are schema 2's and are checked as such."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    schema_version: Literal[1]
    env: _EnvSpec
    observation_space: _Space
    action_space: _Space
    evaluation: _Evaluation


def upgraded_fields(document: Any) -> dict:
    """Returns the schema-2 fields of a schema-1 manifest document; raises pydantic's
    ValidationError if it is not one."""
    old = _Manifest.model_validate(document)
    kwargs = dict(old.env.kwargs)
    steps = kwargs.pop("max_episode_steps", None)
    evaluation = old.evaluation
    return {
        **(old.model_extra or {}),
        "env": {"id": old.env.id, "kwargs": kwargs, "max_episode_steps": steps},
        "observation_space": {"kind": "discrete", "n": old.observation_space.n},
        "action_space": {"kind": "discrete", "n": old.action_space.n},
        "layout": {"rows": old.env.desc, "legend": LEGEND, "terminal": TERMINAL},
        "evaluation": {
            "metric": "success_rate", "value": evaluation.success_rate,
            "sampled_value": evaluation.sampled_success_rate, "best": evaluation.optimal_success_rate,
            "method": evaluation.method, "success_rate": evaluation.success_rate,
        },
    }
