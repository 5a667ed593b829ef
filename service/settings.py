"""Service settings: one pydantic-settings class, read from `LAKE_*` environment variables.

The app, the loader process and `gunicorn.conf.py` all build their settings from here, so
one environment configures every process of the service.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAKE_", extra="ignore")

    artifact_root: Path = Field(Path("artifacts"), description="Directory of published policy versions (read only).")
    default_policy: str | None = Field(
        None, description="Policy used when a request names none; unset = the only policy, if there is one."
    )
    pinned_versions: dict[str, int] = Field(
        default_factory=dict, description='Serve these versions instead of the newest, e.g. {"frozenlake-4x4": 3}.'
    )
    keep_versions: int = Field(5, ge=1, description="Newest versions loaded per policy (pinned ones come on top).")
    poll_interval: float = Field(1.0, gt=0, le=60, description="Seconds between scans of the artifact root.")
    max_batch: int = Field(10_000, ge=1, description="Most observations accepted in one request.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest request body accepted, in bytes.")
    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(8000, ge=1, le=65535, description="Port to bind.")
    workers: int = Field(2, ge=1, description="gunicorn worker processes.")
    threads: int = Field(4, ge=1, description="Threads per worker (gthread).")
    timeout: int = Field(30, ge=1, description="Seconds before a silent worker is killed and replaced.")
    graceful_timeout: int = Field(10, ge=1, description="Seconds in-flight requests get to finish on SIGTERM.")
    cache_dir: Path | None = Field(
        None, description="Where the loader writes tables for workers; unset = a fresh temporary directory."
    )
    log_level: str = Field("info", description="gunicorn log level.")
