"""`data_usage` on the Sim fetch: its data in the current billing period and its data state.

An extension of Twilio's Sim (README): twilio-python, like Twilio's other SDKs, builds a Sim from
the properties it knows and ignores the rest. Only the fetch carries it, never a list, which
would need a query per Sim. The period is the one the API's clock is in, by the rule of
FLEETSTATE_BILLING_PERIOD; usage counts once the usage projector has it.
"""

from __future__ import annotations

import asyncpg
import msgspec

from events.sids import SIM, is_sid
from services.api.context import Api, clock
from services.api.usage_records import UsagePeriod
from services.usage.sim_usage import sim_and_usage


class SimDataUsage(msgspec.Struct):
    """The Sim's data in the current billing period (bytes) and its data state."""

    period: UsagePeriod  # the current billing period
    data_upload: int  # bytes in this period
    data_download: int
    data_total: int
    data_used_while_disabled: int  # bytes used while its Fleet had data disabled
    data_limit: int | None  # its Fleet's, MB per billing period; null without a Fleet
    data_enabled: bool | None  # its Fleet's; null without a Fleet
    # Data cut off for passing data_limit in this period, until a new period or a higher limit
    # resumes it. `status` stays what it is: Twilio's statuses have no such state.
    data_suspended: bool


async def sim_with_data_usage(
    api: Api, account_sid: str, ref: str
) -> tuple[asyncpg.Record, SimDataUsage] | None:
    """The Sim `ref` (SID or unique name) of the account and its data usage, in one query;
    None when the account has no such Sim."""
    column = "sid" if is_sid(SIM, ref) else "unique_name"
    found = await sim_and_usage(api.db, account_sid, column, ref, clock(), api.billing_period)
    if found is None:
        return None
    row, usage = found
    return row, msgspec.convert(usage, SimDataUsage)
