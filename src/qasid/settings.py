"""The one settings object. Every value comes from a ``QASID_`` environment variable (or ``.env``).

``Settings()`` reads the environment once; ``get_settings()`` caches that for the process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The seed providers' dialects (qasid.compat) and where each is mounted by default.
DIALECT_PREFIXES: dict[str, str | None] = {
    "standingtech": "/standingtech",
    "otpiq": "/otpiq",
    "smsapi": "/smsapi",
    "fullsms": "/fullsms",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QASID_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./qasid.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql://user@host:port/db",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="FULL makes every accepted message durable across power loss"
    )
    db_pool_size: int = Field(default=8, ge=1, description="connections for reads (PostgreSQL)")
    postgres_random_page_cost: float = Field(
        default=1.1,
        ge=0,
        description="random_page_cost for Qasid's own PostgreSQL sessions: 1.1 (SSDs, data in memory) "
        "lets the planner look rows up by index where the server's default of 4 scans tables of tens "
        "of thousands of rows; 0 keeps the server's setting",
    )

    host: str = Field(default="127.0.0.1", description="address `qasid serve` listens on")
    port: int = Field(
        default=8000, ge=0, le=65535, description="port `qasid serve` listens on; 0 picks a free one"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="least severe level logged"
    )
    log_json: bool = Field(default=True, description="JSON lines on stderr; false for readable lines")

    # Group commit: requests share one transaction written by one writer thread.
    writer_max_batch: int = Field(default=512, ge=1, description="requests per group commit")
    writer_max_rows: int = Field(default=5000, ge=1, description="recipients per group commit")
    writer_linger_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="under load, how long the writer waits for more work before it commits a batch "
        "that is not full (like PostgreSQL's commit_delay); 0 to commit at once",
    )
    switch_interval_ms: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description="the interpreter's switch interval in the gateway's processes (Python's own: 5 ms): "
        "the longest a writer thread back from the database waits for a busy event loop to let it run",
    )

    cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="how long API keys, prices and sender IDs are cached in a process; revocations, "
        "price and sender changes made elsewhere take effect within this time",
    )

    default_region: str = Field(
        default="IQ", min_length=2, max_length=2, description="region of new accounts"
    )
    default_currency: str = Field(
        default="IQD", min_length=3, max_length=3, description="currency of new accounts"
    )

    max_recipients: int = Field(default=500, ge=1, description="recipients per send request")
    max_gsm7_units: int = Field(default=612, ge=1, description="septets; 612 = 4 parts")
    max_ucs2_units: int = Field(default=268, ge=1, description="UTF-16 units; 268 = 4 parts")
    max_schedule_days: int = Field(default=35, ge=1, description="how far ahead `schedule_at` may be")
    default_validity_seconds: int = Field(
        default=48 * 3600, ge=60, description="validity when a send gives none"
    )
    max_validity_seconds: int = Field(
        default=72 * 3600, ge=60, description="longest validity a send may ask for"
    )
    min_validity_seconds: int = Field(default=60, ge=1, description="shortest validity a send may ask for")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="larger request bodies get a 413")
    idempotency_hours: int = Field(default=24, ge=1, description="how long an Idempotency-Key is remembered")
    heartbeat_seconds: float = Field(default=2.0, gt=0, description="how often a worker says it is alive")
    worker_dead_after_seconds: float = Field(
        default=15.0,
        gt=0,
        description="a worker silent this long is presumed dead and its jobs are taken back",
    )
    dispatch_batch: int = Field(default=256, ge=1, description="jobs claimed at a time")
    dispatch_max_in_flight: int = Field(default=2048, ge=1, description="messages a worker handles at once")
    dispatch_idle_poll_seconds: float = Field(
        default=0.25, gt=0, description="how often an idle worker looks for due jobs (scheduled messages)"
    )
    report_grace_seconds: int = Field(
        default=600, ge=0, description="how long after its validity a sent message waits for a report"
    )
    retry_base_seconds: float = Field(default=1.0, gt=0, description="first retry after about this long")
    retry_cap_seconds: float = Field(default=300.0, gt=0, description="retries are never further apart")
    connectors_reload_seconds: float = Field(
        default=5.0, gt=0, description="how often workers pick up connector and route changes"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="the server secret (at least 32 characters) that keys verification code HMACs and "
        "seals stored secrets (webhook signing secrets, connectors' passwords and tokens); "
        "every process of one gateway needs the same one, and one that reads another refuses to start "
        "(the database keeps its fingerprint). Unset: read from secret_key_file, which is "
        "made with a random secret on first start or by `qasid migrate`",
    )
    secret_key_file: Path = Field(
        default=Path(".qasid-secret"), description="where the server secret is kept when secret_key is unset"
    )

    # Verifications (OTP). Defaults for every account.
    otp_code_length: int = Field(default=6, ge=4, le=10, description="digits in a code Qasid makes")
    otp_ttl_seconds: int = Field(default=600, ge=60, le=86400, description="how long a code is valid")
    otp_max_attempts: int = Field(default=3, ge=1, le=20, description="wrong codes before it fails")
    otp_max_sends: int = Field(default=5, ge=1, le=20, description="sends of one code (first and resends)")
    otp_number_window_seconds: int = Field(
        default=30, ge=1, description="window of the per-number creation limit"
    )
    otp_number_window_limit: int = Field(
        default=2, ge=1, description="verifications one number may be sent within that window"
    )
    otp_active_grace_seconds: int = Field(
        default=30,
        ge=0,
        description="a number has one active verification at a time, unless the active one is this old",
    )
    otp_number_daily_limit: int = Field(default=10, ge=1, description="verifications per number per day")
    otp_account_active_limit: int = Field(
        default=10_000, ge=1, description="pending verifications one account may have at once"
    )
    otp_prefix_tail_digits: int = Field(
        default=3,
        ge=1,
        le=6,
        description="numbers that differ only in this many last digits share a block (pumping defence)",
    )
    otp_prefix_window_seconds: int = Field(default=3600, ge=1, description="window of the per-block limit")
    otp_prefix_limit: int = Field(
        default=30, ge=1, description="verifications one block of numbers may be sent within that window"
    )
    otp_channel_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a verification's channel has to deliver the code before the next "
        "channel of the workflow sends it (sooner when the channel reports a failure)",
    )
    otp_default_channels: str = Field(
        default="sms", description="the workflow when a request names none: channels, comma separated"
    )

    # Webhooks: events pushed to customers (qasid.webhooks).
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="a try succeeds with a 2xx answer within this time"
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="a failed delivery is tried again after about this long, then longer"
    )
    webhook_retry_cap_seconds: float = Field(
        default=4 * 3600.0, gt=0, description="tries of one delivery are never further apart"
    )
    webhook_retry_for_seconds: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="how long after its event a delivery is still tried; then it is failed (replayable)",
    )
    webhook_disable_after_failures: int = Field(
        default=20, ge=1, description="failed tries in a row after which an endpoint is disabled ..."
    )
    webhook_disable_after_seconds: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="... once its failures have also lasted this long (a short outage disables nothing)",
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="networks webhooks may reach besides public addresses, comma separated "
        "(e.g. 10.0.0.0/8); loopback, private and link-local addresses are refused otherwise",
    )
    webhook_ca_file: Path | None = Field(
        default=None,
        description="a PEM file of certificate authorities to trust for receivers' TLS, besides the system's",
    )
    webhook_max_in_flight: int = Field(
        default=512,
        ge=1,
        description="webhook deliveries a worker holds at once (claimed, out, or being recorded)",
    )
    webhook_endpoint_max_in_flight: int = Field(
        default=64, ge=1, description="calls to any one endpoint at once (a slow receiver holds no more)"
    )
    webhook_batch: int = Field(default=64, ge=1, description="deliveries claimed at a time")

    campaign_chunk: int = Field(
        default=10_000,
        ge=100,
        le=100_000,
        description="recipients a campaign makes into messages per transaction; larger is faster, but on "
        "SQLite each chunk holds the one write lock longer, and API requests wait that out",
    )
    max_import_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="the largest contact file an import takes"
    )

    dialects: dict[str, str | None] = Field(
        default_factory=lambda: dict(DIALECT_PREFIXES),
        description="the seed providers' API dialects and the path each is mounted under, as JSON; what "
        'you give is laid over the defaults, and null switches one off: {"fullsms": null, "otpiq": '
        '"/v2/otpiq"}. Defaults: ' + ", ".join(f"{k} at {v}" for k, v in DIALECT_PREFIXES.items()),
    )
    dialect_timezone: str = Field(
        default="Asia/Baghdad",
        description="the time zone of the dialects' local times (StandingTech's schedule_time, the key/"
        "brandID provider's sendTime and callback date, FullSMS's send_at), as the providers use them",
    )

    demo_key_file: Path = Field(
        default=Path(".qasid-demo-key"), description="where `qasid demo` keeps its key"
    )

    @field_validator("dialects", mode="after")
    @classmethod
    def _over_defaults(cls, given: dict[str, str | None]) -> dict[str, str | None]:
        unknown = sorted(set(given) - set(DIALECT_PREFIXES))
        if unknown:
            raise ValueError(f"no dialect {', '.join(unknown)}; there are {', '.join(DIALECT_PREFIXES)}")
        merged = {**DIALECT_PREFIXES, **given}
        for name, prefix in merged.items():
            if prefix is not None and not (
                prefix.startswith("/") and len(prefix) > 1 and not prefix.endswith("/")
            ):
                raise ValueError(f"{name}: a prefix is a path like /{name} (not / itself, no trailing /)")
        return merged

    @field_validator("dialect_timezone", mode="after")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_markdown() -> str:
    """docs/configuration.md, generated from the fields above."""
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable with the `QASID_` prefix (a `.env` file in the working",
        "directory is read too). Generated from `src/qasid/settings.py` by `make docs`; a test keeps it",
        "current.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = f"`{default}`" if default not in (None, "") else ""
        lines.append(f"| `QASID_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    print(settings_markdown(), end="")
