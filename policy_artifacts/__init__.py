"""The one owner of the on-disk policy format: trainer and service both go through here."""

from policy_artifacts.manifest import (
    ACTOR_FILE,
    CRITIC_FILE,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    Manifest,
)
from policy_artifacts.store import (
    ArtifactError,
    PublishedVersion,
    VerifiedVersion,
    check_policy_name,
    list_policies,
    list_versions,
    publish_version,
    read_verified,
    version_path,
)

__all__ = [
    "ACTOR_FILE",
    "CRITIC_FILE",
    "MANIFEST_FILE",
    "SCHEMA_VERSION",
    "ArtifactError",
    "Manifest",
    "PublishedVersion",
    "VerifiedVersion",
    "check_policy_name",
    "list_policies",
    "list_versions",
    "publish_version",
    "read_verified",
    "version_path",
]
