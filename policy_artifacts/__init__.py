"""The one owner of the on-disk policy format: trainer and service both go through here.

The trainer calls `publish_version`; the service lists with `list_policies` and
`scan_versions` and loads with `load_servable`, which puts a version through the whole
gate (`policy_artifacts.gate`, then Keras and the checks in `policy_artifacts.loading`)
and raises `ArtifactError` with the reason for anything wrong. Importing this package
does not import Keras or ONNX Runtime; `load_servable` does, when first called.
"""

from policy_artifacts.gate import ArtifactLimits, VerifiedVersion, read_verified
from policy_artifacts.loading import NetworkServable, TabularServable, load_servable
from policy_artifacts.manifest import (
    ACTOR_FILE,
    CRITIC_FILE,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    BoxSpace,
    DiscreteSpace,
    Manifest,
    parse_manifest,
)
from policy_artifacts.store import (
    ArtifactError,
    PublishedVersion,
    VersionListing,
    check_policy_name,
    list_policies,
    list_versions,
    publish_version,
    scan_versions,
    version_path,
)


__all__ = [
    "ACTOR_FILE",
    "CRITIC_FILE",
    "MANIFEST_FILE",
    "SCHEMA_VERSION",
    "ArtifactError",
    "ArtifactLimits",
    "BoxSpace",
    "DiscreteSpace",
    "Manifest",
    "NetworkServable",
    "PublishedVersion",
    "TabularServable",
    "VerifiedVersion",
    "VersionListing",
    "check_policy_name",
    "list_policies",
    "list_versions",
    "load_servable",
    "parse_manifest",
    "publish_version",
    "read_verified",
    "scan_versions",
    "version_path",
]
