"""The one owner of the on-disk policy format: trainer and service both go through here.

The trainer calls `publish_version`; the service lists with `list_policies` and
`scan_versions` and loads with `load_servable`, which puts a version through the whole
gate (`policy_artifacts.gate`, then the checks in `policy_artifacts.loading`) and raises
`ArtifactError` with the reason for anything wrong. `policy_artifacts.spaces` holds the
observation and action spaces and what they do (bounds, checks, wire datatype, sampling).

The names below are imported when first used, so importing one light module of the
package (`policy_artifacts.names`, which the API's request models use) loads neither
numpy nor the model readers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "gate": ("ArtifactLimits", "VerifiedVersion", "read_verified"),
    "loading": ("NetworkServable", "TabularServable", "load_servable"),
    "manifest": ("ACTOR_FILE", "CRITIC_FILE", "MANIFEST_FILE", "SCHEMA_VERSION", "Manifest", "parse_manifest"),
    "spaces": ("BoxSpace", "DiscreteSpace", "SpaceError", "sample_categorical"),
    "store": ("ArtifactError", "PublishedVersion", "VersionListing", "check_policy_name", "list_policies",
              "list_versions", "publish_version", "scan_versions", "version_path"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'policy_artifacts' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"policy_artifacts.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
