"""Twilio's UsageRecords list parameters, parsed and validated (no I/O).

`parse_usage_query(params, now)` turns the request's query parameters into a `UsageQuery`, or
raises `InvalidParameter` (400 20001) naming what is wrong. Paging parameters (PageSize, Page,
PageToken) are accepted here and left to the caller.

Decisions where Twilio is silent:
- StartTime and EndTime are ISO 8601; a date alone means midnight UTC, a time without an offset
  is UTC. StartTime must be before EndTime.
- Usage is kept per hour: an hour counts when it starts in [StartTime, EndTime).
- StartTime and EndTime lie in [1970-01-01, 9999-12-31): no usage is older than the Unix epoch
  the billing periods count from, and the bounds keep every date computed from them in range.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

from events.sids import NETWORK, is_sid
from services.domain.periods import BillingPeriod
from services.echo import shown_list

GROUPS = ("sim", "fleet", "network", "isoCountry")
GRANULARITIES = ("hour", "day", "all")
PAGING = ("PageSize", "Page", "PageToken")
FILTERS = ("Sim", "Fleet", "Network", "IsoCountry", "Group", "Granularity", "StartTime", "EndTime")
_MONTH = BillingPeriod.parse("month")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)


class InvalidParameter(ValueError):
    """400 20001."""


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    start_time: datetime
    end_time: datetime
    sim: str | None = None  # SID or unique name
    fleet: str | None = None  # SID or unique name
    network: str | None = None
    iso_country: str | None = None
    group: str | None = None
    granularity: str = "all"


def _time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves year 1..9999
        raise InvalidParameter(f"{name} must be an ISO 8601 date-time") from None
    if not _EARLIEST <= moment < _LATEST:
        raise InvalidParameter(f"{name} must be between 1970-01-01 and 9999-12-31")
    return moment


def _month_before(moment: datetime) -> datetime:
    """The same moment a calendar month earlier (the 31st becomes the month's last day)."""
    start = _MONTH.start_of(moment.timestamp())
    previous = datetime.fromtimestamp(_MONTH.shift(start, -1), UTC)
    day = min(moment.day, (moment.replace(day=1) - previous).days)
    return moment.replace(year=previous.year, month=previous.month, day=day)


def parse_usage_query(params: Mapping[str, str], now: datetime) -> UsageQuery:
    unknown = sorted(set(params) - set(FILTERS) - set(PAGING))
    if unknown:
        raise InvalidParameter(f"Unknown parameter(s): {shown_list(unknown)}")
    group = params.get("Group")
    if group is not None and group not in GROUPS:
        raise InvalidParameter(f"Group must be one of {', '.join(GROUPS)}")
    granularity = params.get("Granularity", "all")
    if granularity not in GRANULARITIES:
        raise InvalidParameter(f"Granularity must be one of {', '.join(GRANULARITIES)}")
    network = params.get("Network")
    if network is not None and not is_sid(NETWORK, network):
        raise InvalidParameter("Network must be the SID of a Network (HW...)")
    iso_country = params.get("IsoCountry")
    if iso_country is not None and not (
        len(iso_country) == 2 and iso_country.isascii() and iso_country.isalpha()
    ):
        raise InvalidParameter("IsoCountry must be an ISO 3166-1 alpha-2 code such as 'US'")
    end = _time("EndTime", params["EndTime"]) if "EndTime" in params else now
    start = _time("StartTime", params["StartTime"]) if "StartTime" in params else _month_before(end)
    if start >= end:
        raise InvalidParameter("StartTime must be before EndTime")
    for name in ("Sim", "Fleet"):
        # PostgreSQL text cannot hold NUL, so no unique name has one (and a query with it fails).
        if name in params and (not params[name] or "\x00" in params[name]):
            raise InvalidParameter(f"{name} must be a SID or a unique name")
    return UsageQuery(
        start_time=start,
        end_time=end,
        sim=params.get("Sim"),
        fleet=params.get("Fleet"),
        network=network,
        iso_country=iso_country.upper() if iso_country else None,
        group=group,
        granularity=granularity,
    )
