"""Service settings: one pydantic-settings class, read from `POLICY_*` environment variables.

The app, the loader process and `gunicorn.conf.py` all build their settings from here, so
one environment configures every process of the service. The names before the rename,
`LAKE_*`, still work (compose files and manifests use them), each named once per process
in a one-line warning; a setting given under both names is read from `POLICY_*`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from policy_artifacts import ArtifactLimits
from policy_artifacts.names import LABEL, LABEL_RULE

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "POLICY_"
LEGACY_ENV_PREFIX = "LAKE_"

# Labels the loader always resolves ("latest": the served version; "previous": the newest
# loaded one below it); a label must not shadow them, nor look like a version number.
BUILT_IN_LABELS = ("latest", "previous")

log = logging.getLogger(__name__)
_warned: set[str] = set()


class _LegacyEnvSource(EnvSettingsSource):
    """The `LAKE_*` variables, read below `POLICY_*`: each one given is named in a warning
    once per process, and dropped where its `POLICY_*` twin is set (no merging of the two)."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls, env_prefix=LEGACY_ENV_PREFIX)

    def __call__(self) -> dict[str, Any]:
        values = {}
        current = {name.upper(): value for name, value in os.environ.items()}
        for field, value in super().__call__().items():
            old, new = f"{LEGACY_ENV_PREFIX}{field.upper()}", f"{ENV_PREFIX}{field.upper()}"
            if new not in current:
                values[field] = value
                _warn_once(old, f"{old} is deprecated: set {new}")
            elif current[new] != current.get(old):
                _warn_once(old, f"{old} is ignored: {new} is set")
        return values


def variable_for(field: str) -> str:
    """Returns the environment variable that set a setting: POLICY_X, or the legacy LAKE_X
    if only that one is set (so an error names what the user actually wrote)."""
    new, old = f"{ENV_PREFIX}{field.upper()}", f"{LEGACY_ENV_PREFIX}{field.upper()}"
    return old if new not in os.environ and old in os.environ else new


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning(message)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _LegacyEnvSource(settings_cls), dotenv_settings, file_secret_settings

    artifact_root: Path = Field(Path("artifacts"), description="Directory of published policy versions (read only).")
    default_policy: str | None = Field(
        None, description="Policy used when a request names none; unset = the only policy, if there is one."
    )
    pinned_versions: dict[str, int] = Field(
        default_factory=dict, description='Serve these versions instead of the newest, e.g. {"frozenlake-4x4": 3}.'
    )
    version_labels: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='Names for versions, usable wherever a version is, e.g. {"frozenlake-4x4": {"stable": 3, '
        '"canary": 4}}; "latest" (the served version) and "previous" (the newest loaded one below it) always exist.',
    )
    traffic_split: dict[str, dict[str, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]]] = Field(
        default_factory=dict,
        description='Share of the requests that name no version, per label or version number, e.g. '
        '{"frozenlake-4x4": {"previous": 90, "latest": 10}}; a seeded request always lands on the same version.',
    )
    cors_origins: list[str] = Field(
        default_factory=list, description='Origins allowed to call the API from a browser (CORS); none by default.'
    )
    keep_versions: int = Field(
        5, ge=1, le=100,
        description="Newest versions loaded per policy (pinned ones come on top); also bounds what is remembered.",
    )
    loader_threads: int = Field(
        3, ge=1, le=32,
        description="Versions the loader reads and checks at once; a slow one never holds back the others.",
    )
    poll_interval: float = Field(1.0, ge=0.05, le=60, description="Seconds between scans of the artifact root.")
    max_batch: int = Field(10_000, ge=1, description="Most observations accepted in one request.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body accepted, in bytes.")
    body_budget_bytes: int = Field(
        32 << 20, ge=1024,
        description="Bytes of request bodies one worker receives and parses at once (each counted at its "
                    "Content-Length, or max_body_bytes if chunked); a body over the budget gets 503 at once. "
                    "Sizing rule: README, 'Memory'.",
    )
    max_answer_cells: int = Field(
        250_000, ge=1,
        description="Most numbers in one answer: observations x actions for probabilities, observations x "
                    "action elements for Box actions (twice that for their mean and std), states x actions "
                    "for a whole table (GET /policy, the page's grid). Larger answers are refused with 413.",
    )
    max_error_details: int = Field(5, ge=1, le=100, description="Most per-field errors listed in one 422 answer.")
    request_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a client gets to send a whole request (headers and body)."
    )
    keepalive: int = Field(
        5, ge=1, le=300,
        description="Seconds an idle connection is kept, and a request's headers must arrive within.",
    )
    worker_connections: int = Field(1000, ge=1, description="Open connections per worker (gevent greenlets).")
    max_model_bytes: int = Field(64 << 20, ge=1024, description="Largest .keras file the loader reads.")
    max_manifest_bytes: int = Field(1 << 20, ge=1024, description="Largest manifest.json the loader reads.")
    max_episode_bytes: int = Field(
        2 << 20, ge=1024, description="Largest episode.gif (a version's rendered greedy episode) the loader reads."
    )
    max_uncompressed_bytes: int = Field(
        256 << 20, ge=1024, description="Largest total uncompressed size of a .keras archive's members."
    )
    max_member_bytes: int = Field(128 << 20, ge=1024, description="Largest uncompressed member of a .keras archive.")
    max_members: int = Field(64, ge=1, description="Most members in one .keras archive.")
    max_states: int = Field(65_536, ge=1, description="Largest discrete observation space tabulated.")
    max_table_cells: int = Field(
        4_000_000, ge=1, description="Largest states x actions tabulated for a discrete policy."
    )
    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(8000, ge=1, le=65535, description="Port to bind.")
    workers: int = Field(2, ge=1, description="gunicorn worker processes.")
    timeout: int = Field(30, ge=1, description="Seconds before a silent worker is killed and replaced.")
    boot_wait: float = Field(
        30.0, ge=0, le=600,
        description="Seconds a new worker waits for the loader's first state before it accepts connections "
                    "anyway (then /readyz says it is waiting); 0 accepts at once.",
    )
    graceful_timeout: int = Field(10, ge=1, description="Seconds in-flight requests get to finish on SIGTERM.")
    cache_dir: Path | None = Field(
        None, description="Where the loader writes tables for workers; unset = a fresh temporary directory."
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="gunicorn log level.")

    @field_validator("version_labels")
    @classmethod
    def _labels_are_names(cls, labels: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for policy, names in labels.items():
            for label, version in names.items():
                # The request pattern itself: a label configured here can always be asked for.
                if label in BUILT_IN_LABELS or not LABEL.fullmatch(label):
                    raise ValueError(
                        f"{policy}: label {label[:40]!r} must start with a letter, be {LABEL_RULE} of at most "
                        f"32 characters, and not be {' or '.join(map(repr, BUILT_IN_LABELS))} (they always exist)"
                    )
                if version < 1:
                    raise ValueError(f"{policy}: label {label!r} names version {version}; versions start at 1")
        return labels

    @field_validator("cache_dir")
    @classmethod
    def _cache_dir_is_a_directory(cls, path: Path | None) -> Path | None:
        if path is not None and path.exists() and not path.is_dir():
            raise ValueError(f"{path} exists and is not a directory")
        return path

    def artifact_limits(self) -> ArtifactLimits:
        """Returns the artifact gate's caps, from these settings."""
        return ArtifactLimits(
            max_model_bytes=self.max_model_bytes, max_manifest_bytes=self.max_manifest_bytes,
            max_episode_bytes=self.max_episode_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes, max_member_bytes=self.max_member_bytes,
            max_members=self.max_members, max_states=self.max_states, max_table_cells=self.max_table_cells,
        )
