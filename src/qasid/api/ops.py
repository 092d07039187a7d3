"""Operating endpoints: ``/healthz`` (the process answers), ``/readyz`` (the database answers and a
dispatcher is beating), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from anyio import to_thread
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from qasid.api.deps import services
from qasid.otp.repository import VerificationRepository
from qasid.outbox.repository import JobRepository
from qasid.webhooks.repository import DeliveryRepository

QUEUE_DEPTH = Gauge("qasid_queue_depth", "Jobs due and not yet claimed")
OLDEST_JOB_AGE = Gauge("qasid_oldest_job_age_seconds", "How long the oldest due job has waited")
WEBHOOK_DEPTH = Gauge("qasid_webhook_queue_depth", "Webhook deliveries due and not yet claimed")
OLDEST_WEBHOOK_AGE = Gauge(
    "qasid_oldest_webhook_age_seconds", "How long the oldest due webhook delivery has waited"
)
CONVERSION = Gauge(
    "qasid_verification_conversion_ratio",
    "Verifications approved / created in the last hour, all accounts (a fall is the mark of SMS pumping)",
)
CONVERSION_WINDOW = timedelta(hours=1)


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    checks = await services(request).readiness()
    ready = all(checks.values())
    return Response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    db = services(request).db

    def read() -> tuple[tuple[int, datetime | None], tuple[int, datetime | None], tuple[int, int]]:
        now = datetime.now(UTC)
        with db.read() as conn:
            jobs, hooks = JobRepository(conn).depth(now), DeliveryRepository(conn).depth(now)
            return jobs, hooks, VerificationRepository(conn).conversion(now - CONVERSION_WINDOW)

    try:
        jobs, hooks, (created, approved) = await to_thread.run_sync(read)
        for (depth, oldest), count, age in (
            (jobs, QUEUE_DEPTH, OLDEST_JOB_AGE),
            (hooks, WEBHOOK_DEPTH, OLDEST_WEBHOOK_AGE),
        ):
            count.set(depth)
            age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        CONVERSION.set(approved / created if created else float("nan"))
    except Exception:  # noqa: BLE001 - the process's own counters are still worth reporting
        for gauge in (QUEUE_DEPTH, OLDEST_JOB_AGE, WEBHOOK_DEPTH, OLDEST_WEBHOOK_AGE, CONVERSION):
            gauge.set(float("nan"))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


handlers = [healthz, readyz, metrics]
