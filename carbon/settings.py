"""Typed settings from the environment (prefix CARBON_), built only by get_settings() or by a test."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from carbon.services.keys import TENANT_PATTERN

__all__ = ["Settings", "default_data_dir", "default_factors_dir", "get_settings"]


def default_factors_dir() -> Path:
    """The factors/ folder beside the package (source checkout, editable install, container image)."""
    return Path(__file__).resolve().parent.parent / "factors"


def default_data_dir() -> Path:
    """The per-user data directory by the platform's convention ($XDG_DATA_HOME/carbon-ledger, else
    ~/.local/share/carbon-ledger on Linux): the service and the CLI find the same ledger from any folder."""
    return Path(platformdirs.user_data_dir("carbon-ledger", appauthor=False))


class Settings(BaseSettings):
    """Service settings; priority: arguments, then CARBON_* environment variables, then defaults."""

    model_config = SettingsConfigDict(env_prefix="CARBON_", extra="forbid")

    factors_dir: Path = Field(default_factory=default_factors_dir)
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_loans_per_batch: int = Field(default=10_000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Jobs: one upload's size; per tenant, the bytes uploads of unfinished jobs may hold and how many jobs
    # may be queued or running; free disk space an upload must leave; the lease a running job's replica
    # renews, how often a job is taken over after its process died before it fails, and days a
    # rejected-rows report stays.
    max_upload_bytes: int = Field(default=256 * 1024**2, ge=1024)
    upload_quota_bytes: int = Field(default=1024**3, ge=1024)
    max_jobs_per_tenant: int = Field(default=4, ge=1, le=1000)
    min_free_disk_bytes: int = Field(default=512 * 1024**2, ge=0)
    job_lease_seconds: float = Field(default=30.0, ge=0.3, le=3600)
    job_max_resumes: int = Field(default=2, ge=0, le=100)
    job_report_days: int = Field(default=30, ge=1, le=3650)
    default_loan_region: str = Field(default="CN", pattern=r"^(GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2})$")
    # Grid-intensity provider for carbon-aware windows: off (None) unless configured, so nothing leaves the
    # network unasked. The URL is called with ?region=&start=&end= (ISO 8601).
    grid_intensity_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    grid_intensity_timeout: float = Field(default=5.0, gt=0, le=120)
    grid_intensity_retries: int = Field(default=2, ge=0, le=10)
    grid_intensity_backoff: float = Field(default=0.5, ge=0, le=30)
    grid_intensity_cache_seconds: int = Field(default=300, ge=0, le=86_400)
    # Access: "keys" (the default) needs a valid API key on every /v1 request; "open" serves everyone as
    # `open_tenant` with every role, for local development only.
    auth: Literal["keys", "open"] = "keys"
    open_tenant: str = Field(default="default", pattern=TENANT_PATTERN.pattern)
    # HMAC key for stored API-key hashes; unset, a random one is created once in <data_dir>/key-secret.
    key_secret: SecretStr | None = Field(default=None, min_length=32)
    # Limits: per-key token bucket (0 = unlimited), requests at once, seconds to wait for a slot, seconds
    # before a 504 (the request itself runs on to completion).
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Requests without a valid key, per client address: past it, 429 instead of 401 (0 = no limit).
    auth_failures_per_minute: int = Field(default=60, ge=0)
    max_concurrent_requests: int = Field(default=64, ge=1, le=10_000)
    queue_wait_seconds: float = Field(default=5.0, ge=0, le=300)
    request_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # The database: seconds a request's write waits for its lock (the tenant's on PostgreSQL, the database's
    # on SQLite) or any request for a pooled connection, then 503 with Retry-After; connections per process.
    db_lock_wait_seconds: float = Field(default=10.0, gt=0, le=300)
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    # /readyz: not ready when the data directory's disk has less free space than this.
    ready_min_free_disk_bytes: int = Field(default=64 * 1024**2, ge=0)
    # The HTTP edge: seconds for a request body to arrive (then 408), the Host names served ("*": any), the
    # proxies whose X-Forwarded-For is believed (none), and whether open mode may listen beyond loopback.
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"], min_length=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    open_beyond_loopback: bool = False
    # Operations: JSON log lines (one object per line) and OpenTelemetry tracing (needs the otel extra).
    json_logs: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tracing: bool = False
    # /docs and /redoc (served from packaged assets): None means on in open mode only.
    docs: bool | None = None
    # /metrics: require an API key with the metrics role; show business totals (loans, CO2e recorded).
    metrics_require_key: bool = False
    metrics_business_totals: bool = False

    @property
    def docs_enabled(self) -> bool:
        """CARBON_DOCS, else on only where keys are off (local development)."""
        return self.docs if self.docs is not None else self.auth == "open"

    @field_validator("allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`a,b` in the environment; a list when given in code."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        """Addresses or networks (`10.0.0.5`, `10.0.0.0/8`), or `*` for every peer."""
        for entry in value:
            if entry != "*":
                try:
                    ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @property
    def key_secret_path(self) -> Path:
        """Where the generated key secret lives when CARBON_KEY_SECRET is unset."""
        return self.data_dir / "key-secret"

    @property
    def resolved_database_url(self) -> str:
        """CARBON_DATABASE_URL, or a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'carbon.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
