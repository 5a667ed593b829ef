"""Turning registry entries and policies into the API's answer models.

The answer models are validated from the records themselves, so a field added to a record
(or to the manifest) and to its answer model needs no copying code here.
"""

from __future__ import annotations

from service.handoff import VersionRecord
from service.policy import TabularPolicy
from service.registry import PolicyEntry
from policy_client.schemas import CellPolicy, PolicyStatus, PolicyTableResponse, VersionStatus

# What a version's status shows of its manifest: the fields the two models share.
_MANIFEST_SHOWN = set(VersionStatus.model_fields) - set(VersionRecord.model_fields)
_LEFT_OUT = {"training": {"curve"}}  # the page draws the served version's curve; /models stays small


def version_status(record: VersionRecord) -> VersionStatus:
    shown = record.manifest.model_dump(include=_MANIFEST_SHOWN, exclude=_LEFT_OUT) if record.manifest else {}
    return VersionStatus.model_validate({**record.model_dump(include=set(VersionStatus.model_fields)), **shown})


def policy_status(entry: PolicyEntry) -> PolicyStatus:
    record = entry.record
    return PolicyStatus.model_validate({**record.model_dump(exclude={"versions"}),
                                        "versions": [version_status(v) for v in record.versions]})


def policy_table(policy: TabularPolicy) -> PolicyTableResponse:
    """Returns every state of a discrete policy, placed on its grid when it has one."""
    layout = policy.manifest.layout
    probabilities, values, greedy = policy.probabilities_table, policy.values_table, policy.greedy_table
    names = policy.action_names
    cells = []
    for s in range(policy.n_states):
        row, col, tile = layout.cell(s) if layout else (None, None, None)
        cells.append(CellPolicy(
            state=s, row=row, col=col, tile=tile, probabilities=probabilities[s].tolist(),
            greedy_action=int(greedy[s]), greedy_action_name=names[greedy[s]], value=float(values[s]),
        ))
    return PolicyTableResponse(
        policy=policy.name, version=policy.version, layout=layout.model_dump() if layout else None,
        action_names=list(names), cells=cells,
    )
