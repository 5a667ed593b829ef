"""Turning registry entries and policies into the API's answer models."""

from __future__ import annotations

from service.policy import TabularPolicy
from service.registry import PolicyEntry
from policy_client.schemas import CellPolicy, IgnoredEntryStatus, PolicyStatus, PolicyTableResponse, TrafficShareStatus, VersionStatus


def policy_status(entry: PolicyEntry) -> PolicyStatus:
    record = entry.record
    versions = []
    for version in record.versions:
        manifest = version.manifest
        versions.append(VersionStatus(
            version=version.version, state=version.state.value, error=version.error,
            created_at=manifest.created_at if manifest else None,
            evaluation=manifest.evaluation.model_dump() if manifest else None,
            training=manifest.training.model_dump(exclude={"curve"}) if manifest else None,
            env=manifest.env.model_dump() if manifest else None,
            observation_space=manifest.observation_space.model_dump() if manifest else None,
            action_names=manifest.action_names if manifest else None,
        ))
    return PolicyStatus(
        name=record.name, served_version=record.served_version, pinned_version=record.pinned_version,
        labels=record.labels, notes=record.notes,
        traffic=[TrafficShareStatus(version=t.version, weight=t.weight, via=t.via) for t in record.traffic],
        versions=versions, ignored=[IgnoredEntryStatus(name=i.name, reason=i.reason) for i in record.ignored],
    )


def policy_table(policy: TabularPolicy) -> PolicyTableResponse:
    """Returns every state of a discrete policy, placed on its grid when it has one."""
    layout = policy.manifest.layout
    width = len(layout.rows[0]) if layout else None
    tiles = "".join(layout.rows) if layout else None
    probabilities, values, greedy = policy.probabilities_table, policy.values_table, policy.greedy_table
    names = policy.action_names
    cells = [
        CellPolicy(
            state=s, row=s // width if width else None, col=s % width if width else None,
            tile=tiles[s] if tiles else None, probabilities=probabilities[s].tolist(),
            greedy_action=int(greedy[s]), greedy_action_name=names[greedy[s]], value=float(values[s]),
        )
        for s in range(policy.n_states)
    ]
    return PolicyTableResponse(
        policy=policy.name, version=policy.version, desc=list(layout.rows) if layout else None,
        action_names=list(names), cells=cells,
    )
