"""A Sim's data usage in the current billing period and its data state: for the Sim's fetch.

    found = await sim_and_usage(conn, account_sid, "sid", sim_sid, now, rule)
    usage = await sim_data_usage(conn, account_sid, sim_sid, now, BillingPeriod.parse(...))

`now` comes from the caller (the API's clock), the period rule from the settings. None when the
account has no such Sim. One query (the Sim, its Fleet, its period's usage), since a fetch is
the API's hottest read. Usage the processors have not projected yet is not included: the read
model lags the reports by the usage processor's batch and the projector's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.domain.periods import BillingPeriod, as_datetime
from services.usage.records import iso

SIM_COLUMNS = (
    "sid",
    "account_sid",
    "unique_name",
    "iccid",
    "status",
    "fleet_sid",
    "date_created",
    "date_updated",
    "data_suspended",
)
_QUERY = (
    "select {sim}, f.data_limit, f.data_enabled, "
    "u.data_upload, u.data_download, u.data_disabled_bytes "
    "from sims s left join fleets f on f.sid = s.fleet_sid "
    "left join sim_usage u on u.sim_sid = s.sid and u.account_sid = s.account_sid "
    "and u.period_start = $3 "
    "where s.account_sid = $1 and s.{column} = $2"
)


async def sim_and_usage(
    conn, account_sid: str, column: str, value: str, now: datetime, rule: BillingPeriod
) -> tuple[asyncpg.Record, dict[str, Any]] | None:
    """The Sim whose `column` ("sid" or "unique_name") is `value`, and its usage."""
    if column not in ("sid", "unique_name"):
        raise ValueError(f"a Sim is found by sid or unique_name, not {column!r}")
    start = rule.start_of(now.timestamp())
    sim = ", ".join(f"s.{c}" for c in SIM_COLUMNS)
    row = await conn.fetchrow(
        _QUERY.format(sim=sim, column=column), account_sid, value, as_datetime(start)
    )
    if row is None:
        return None
    up, down, disabled = (row["data_upload"] or 0, row["data_download"] or 0,
                          row["data_disabled_bytes"] or 0)  # fmt: skip
    return row, {
        "period": {
            "start_time": iso(as_datetime(start)),
            "end_time": iso(as_datetime(rule.end_of(start))),
        },
        "data_upload": up,
        "data_download": down,
        "data_total": up + down,
        "data_used_while_disabled": disabled,
        "data_limit": row["data_limit"],  # MB; None without a Fleet
        "data_enabled": row["data_enabled"],
        "data_suspended": row["data_suspended"],
    }


async def sim_data_usage(
    conn, account_sid: str, sim_sid: str, now: datetime, rule: BillingPeriod
) -> dict | None:
    found = await sim_and_usage(conn, account_sid, "sid", sim_sid, now, rule)
    return None if found is None else found[1]
