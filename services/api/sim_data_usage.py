"""`data_usage` on the Sim fetch: its data in the current billing period and its data state.

An extension of Twilio's Sim (README): twilio-python, like Twilio's other SDKs, builds a Sim from
the properties it knows and ignores the rest. Only the fetch carries it, never a list, which
would need a query per Sim. The period is the one the API's clock is in, by the rule of
FLEETSTATE_BILLING_PERIOD; usage counts once the usage projector has it.
"""

from __future__ import annotations

import msgspec

from services.api.context import Api, clock
from services.api.usage_records import UsagePeriod
from services.usage.sim_usage import sim_data_usage


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


async def data_usage_of(api: Api, account_sid: str, sim_sid: str) -> SimDataUsage | None:
    """None when the account has no such Sim."""
    usage = await sim_data_usage(api.db, account_sid, sim_sid, clock(), api.billing_period)
    return None if usage is None else msgspec.convert(usage, SimDataUsage)
