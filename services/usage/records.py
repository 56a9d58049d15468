"""Twilio's UsageRecords, read from the usage read model: the query `GET /v1/UsageRecords` serves.

    query = parse_usage_query(request_params, now)            # services/usage/records_query.py
    page = await list_usage_records(conn, account_sid, query, page_size, page_token)
    # page.records: Twilio-shaped dicts; page.next_page_token: None on the last page

Records are ordered newest period first, then by the grouped value; pages are keyset-based
(the token names the last record's period start and group value), so page N costs what page 1
does. Decisions where Twilio is silent:
- `sim_sid`, `fleet_sid`, `network_sid`, `iso_country` are filled when filtered or grouped by,
  null otherwise (Twilio's wording); a Sim or Fleet filter naming nothing in the account raises
  `NotFound` (404 20404), as another account's resource is indistinguishable from a missing one.
- Granularity `all` without Group gives one record for the whole [StartTime, EndTime), zeros
  included when nothing was used; with a Group, one record per value that used data.
- There is no billing here: `data_total_billed` is 0 and `billed_unit` null (Twilio documents
  both for usage not billed yet).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from services.echo import shown
from services.usage.records_query import UsageQuery


class NotFound(LookupError):
    """404 20404: the Sim or Fleet of a filter is not in this account."""

    def __init__(self, what: str, ref: str) -> None:
        super().__init__(f"The requested {what} {shown(ref)} was not found")
        self.what, self.ref = what, ref


class InvalidPageToken(ValueError):
    """400 21481."""


class UsageRecordsPage(msgspec.Struct, frozen=True):
    records: list[dict]
    next_page_token: str | None


_BUCKETS = {
    "hour": "u.hour",
    "day": "date_trunc('day', u.hour at time zone 'UTC') at time zone 'UTC'",
    "all": "$2::timestamptz",
}
_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_KEYS = {
    None: "''",
    "sim": "u.sim_sid",
    "fleet": "coalesce(u.fleet_sid, '')",
    "network": "u.network_sid",
    "isoCountry": "coalesce(n.iso_country, '')",
}
_FIELDS = {"sim": "sim_sid", "fleet": "fleet_sid", "network": "network_sid",
           "isoCountry": "iso_country"}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# "PU", the last record's period start in microseconds since the epoch, "_" and its group
# value: empty, a country code or a SID. Every token of this shape is a position the query
# takes, so our OpenAPI publishes the pattern and anything else is refused; a time past what
# datetime holds is read as its last moment, which changes nothing (no usage is that late).
TOKEN_PATTERN = "^PU([0-9]{1,18})_((?:[A-Z]{2}(?:[0-9a-f]{32})?)?)$"
_TOKEN = re.compile(TOKEN_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def _encode_token(bucket: datetime, key: str) -> str:
    return f"PU{(bucket - _EPOCH) // timedelta(microseconds=1)}_{key}"


def _decode_token(token: str) -> tuple[datetime, str]:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidPageToken("Invalid PageToken")
    micros = min(int(match.group(1)), _LAST_MICROS)
    return _EPOCH + timedelta(microseconds=micros), match.group(2)


async def _resolve(conn, table: str, what: str, account_sid: str, ref: str | None) -> str | None:
    if ref is None:
        return None
    sid = await conn.fetchval(
        f"select sid from {table} where account_sid = $1 and (sid = $2 or unique_name = $2) "
        "order by sid = $2 desc limit 1",
        account_sid,
        ref,
    )
    if sid is None:
        raise NotFound(what, ref)
    return sid


async def list_usage_records(
    conn: asyncpg.Connection,
    account_sid: str,
    query: UsageQuery,
    page_size: int = 50,
    page_token: str | None = None,
) -> UsageRecordsPage:
    after = _decode_token(page_token) if page_token is not None else None
    sim_sid = await _resolve(conn, "sims", "Sim", account_sid, query.sim)
    fleet_sid = await _resolve(conn, "fleets", "Fleet", account_sid, query.fleet)
    args: list = [account_sid, query.start_time, query.end_time]
    where = ["u.account_sid = $1", "u.hour >= $2", "u.hour < $3"]
    for column, value in (
        ("u.sim_sid", sim_sid),
        ("u.fleet_sid", fleet_sid),
        ("u.network_sid", query.network),
        ("n.iso_country", query.iso_country),
    ):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    having = ""
    if after is not None:
        args += list(after)
        b, k = f"${len(args) - 1}::timestamptz", f"${len(args)}"
        having = f"having {_BUCKETS[query.granularity]} < {b} or "
        having += f"({_BUCKETS[query.granularity]} = {b} and {_KEYS[query.group]} > {k})"
    args.append(page_size + 1)
    sql = (
        f"select {_BUCKETS[query.granularity]} as bucket, {_KEYS[query.group]} as key, "
        "sum(u.data_upload)::bigint as up, sum(u.data_download)::bigint as down "
        "from usage_hourly u left join networks n on n.sid = u.network_sid "
        f"where {' and '.join(where)} group by 1, 2 {having} "
        f"order by 1 desc, 2 asc limit ${len(args)}"
    )
    rows = await conn.fetch(sql, *args)
    more = len(rows) > page_size
    rows = rows[:page_size]
    filtered = {
        "sim_sid": sim_sid,
        "fleet_sid": fleet_sid,
        "network_sid": query.network,
        "iso_country": query.iso_country,
    }
    records = [_record(account_sid, query, filtered, r["bucket"], r["key"], r["up"], r["down"])
               for r in rows]  # fmt: skip
    if not records and after is None and query.granularity == "all" and query.group is None:
        records = [_record(account_sid, query, filtered, query.start_time, "", 0, 0)]
    token = _encode_token(rows[-1]["bucket"], rows[-1]["key"]) if more else None
    return UsageRecordsPage(records=records, next_page_token=token)


def _record(account_sid, query, filtered, bucket, key, up, down) -> dict:
    if query.granularity == "all":
        start, end = query.start_time, query.end_time
    else:
        start, end = bucket, bucket + _STEPS[query.granularity]
    record = {
        "account_sid": account_sid,
        **filtered,
        "period": {"start_time": iso(start), "end_time": iso(end)},
        "data_upload": up,
        "data_download": down,
        "data_total": up + down,
        "data_total_billed": 0,
        "billed_unit": None,
    }
    if query.group is not None:
        record[_FIELDS[query.group]] = key or None
    return record
