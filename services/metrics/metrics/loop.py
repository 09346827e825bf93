"""The aggregation loop: one incremental run now, then every `aggregation_interval_s`."""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram

from metrics.aggregate import aggregate_increment
from metrics.holdback import oldest_open_writer
from metrics.settings import MetricsSettings

log = structlog.get_logger(__name__)

EVENTS = Counter("wa_metrics_aggregated_events_total", "Events rolled up into metrics_daily")
RUNS = Counter("wa_metrics_aggregation_runs_total", "Aggregation runs", ["outcome"])
DURATION = Histogram("wa_metrics_aggregation_seconds", "Duration of one aggregation run")
LAST_OK = Gauge("wa_metrics_aggregation_last_success_unixtime", "End of the last good run")
HELD = Gauge(
    "wa_metrics_watermark_held_seconds",
    "Age of the oldest open transaction on the server, which the next run cannot pass",
)
# how often partitions are checked ahead of time (the log must never spill into DEFAULT)
_PARTITION_EVERY_S = 3600.0


async def run_once(pool: asyncpg.Pool, settings: MetricsSettings) -> None:
    """One incremental run with its log line and Prometheus figures; never raises."""
    started = time.perf_counter()
    try:
        result = await aggregate_increment(pool, settings.price_map())
    except Exception as exc:
        RUNS.labels("error").inc()
        log.warning("aggregation_failed", error=repr(exc))
        return
    elapsed = time.perf_counter() - started
    if result is None:
        RUNS.labels("skipped").inc()
        log.info("aggregation_skipped", reason="another replica holds the watermark")
        return
    RUNS.labels("ok").inc()
    EVENTS.inc(result.events)
    DURATION.observe(elapsed)
    LAST_OK.set(time.time())
    log.info(
        "aggregation_done",
        events=result.events,
        rows=result.rows,
        xact_lo=result.lo,
        xact_hi=result.hi,
        ms=round(elapsed * 1000, 1),
    )
    await report_holdback(pool, settings)


async def report_holdback(pool: asyncpg.Pool, settings: MetricsSettings) -> None:
    """Export the age of the transaction holding the watermark; warn once it spans a run."""
    try:
        writer = await oldest_open_writer(pool)
    except Exception as exc:
        log.warning("holdback_check_failed", error=repr(exc))
        return
    HELD.set(writer.age_s if writer else 0.0)
    if writer is not None and writer.age_s > settings.aggregation_interval_s:
        # its events and every later one wait for it: the dashboard stops moving
        log.warning(
            "aggregation_held_back",
            pid=writer.pid,
            database=writer.database,
            application=writer.application,
            state=writer.state,
            open_s=round(writer.age_s, 1),
        )


async def ensure_partitions(pool: asyncpg.Pool) -> None:
    """Create the coming months' event-log partitions; never raises."""
    try:
        await pool.execute("SELECT ensure_event_partitions(0, 3)")
    except Exception as exc:
        log.warning("partition_check_failed", error=repr(exc))


async def aggregation_loop(
    stop: asyncio.Event, *, pool: asyncpg.Pool, settings: MetricsSettings
) -> None:
    """Run until `stop` is set; a run in progress finishes before the loop returns."""
    next_partition_check = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_partition_check:
            await ensure_partitions(pool)
            next_partition_check = time.monotonic() + _PARTITION_EVERY_S
        await run_once(pool, settings)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.aggregation_interval_s)
