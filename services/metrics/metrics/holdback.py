"""Which open transaction holds the watermark back, if any.

A run counts only events below `pg_snapshot_xmin`, and that horizon is cluster-wide: one
transaction left open anywhere on the server (an idle-in-transaction session, a long
`pg_dump`, a writer stuck mid-request) keeps the dashboard at the numbers of the moment it
began. Nothing is lost or counted twice meanwhile; the events wait. This module names the
oldest such transaction so that an operator can see what to close.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class OpenWriter:
    """The oldest transaction with an id other than the caller's."""

    pid: int
    database: str | None
    application: str | None
    state: str | None
    age_s: float


async def oldest_open_writer(pool: asyncpg.Pool) -> OpenWriter | None:
    """The transaction whose id bounds the next run's horizon; None when there is none."""
    row = await pool.fetchrow(
        """SELECT pid, datname, application_name, state,
                  coalesce(extract(epoch FROM now() - xact_start), 0)::float8 AS age_s
             FROM pg_stat_activity
            WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
            ORDER BY age(backend_xid) DESC
            LIMIT 1"""
    )
    if row is None:
        return None
    return OpenWriter(
        pid=int(row["pid"]),
        database=row["datname"],
        application=row["application_name"] or None,
        state=row["state"],
        age_s=float(row["age_s"]),
    )
