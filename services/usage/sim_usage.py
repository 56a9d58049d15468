"""A Sim's data usage in the current billing period and its data state: for the Sim's fetch.

    usage = await sim_data_usage(conn, account_sid, sim_sid, now, BillingPeriod.parse(...))

`now` comes from the caller (the API's clock), the period rule from the settings. None when the
account has no such Sim. Usage the processors have not projected yet is not included: the read
model lags the reports by the usage processor's batch and the projector's.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.usage.periods import BillingPeriod, as_datetime
from services.usage.records import iso


async def sim_data_usage(
    conn: asyncpg.Connection, account_sid: str, sim_sid: str, now: datetime, rule: BillingPeriod
) -> dict | None:
    sim = await conn.fetchrow(
        "select s.data_suspended, f.data_limit, f.data_enabled from sims s "
        "left join fleets f on f.sid = s.fleet_sid where s.account_sid = $1 and s.sid = $2",
        account_sid,
        sim_sid,
    )
    if sim is None:
        return None
    start = rule.start_of(now.timestamp())
    used = await conn.fetchrow(
        "select data_upload, data_download, data_disabled_bytes from sim_usage "
        "where sim_sid = $1 and account_sid = $2 and period_start = $3",
        sim_sid,
        account_sid,
        as_datetime(start),
    )
    up, down, disabled = tuple(used) if used is not None else (0, 0, 0)
    return {
        "period": {
            "start_time": iso(as_datetime(start)),
            "end_time": iso(as_datetime(rule.end_of(start))),
        },
        "data_upload": up,
        "data_download": down,
        "data_total": up + down,
        "data_used_while_disabled": disabled,
        "data_limit": sim["data_limit"],  # MB; None without a Fleet
        "data_enabled": sim["data_enabled"],
        "data_suspended": sim["data_suspended"],
    }
