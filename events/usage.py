"""Data usage on the wire: the reports network-side services publish, and the usage log.

A `DataSessionReport` says how many bytes one data session of one SIM moved. Reports go to the
usage topic keyed by account_sid (the SIM's account: the same partition number as its
commands and events). A network that numbers each SIM's data sessions 1, 2, 3, ... sends the
number as `sequence`: then the sequence is the de-duplication key, and the usage processor
keeps a watermark per SIM (a few bytes, however many sessions). Without it, the session id
is the key: a report whose SIM already reported that session id in the same billing period is
a duplicate, and every id of the open periods is kept. Either way a duplicate counts nothing.

The usage log is what the usage processor made of the reports, one `UsageFacts` record per
transaction (or a few, for big batches): bytes per SIM, billing period, hour, Network and
Fleet, with the session ids they came from, and every data-state change it asked for. It is
the source of truth for usage totals, the processor's de-duplication after a restart and the
UsageRecords read model.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from events.codec import InvalidMessage
from events.commands import AccountSid, UtcDatetime

Bytes = Annotated[int, Meta(ge=0, le=10**13)]  # 10 TB: more in one session is garbage
SessionId = Annotated[str, Meta(min_length=1, max_length=200)]
NetworkSid = Annotated[str, Meta(pattern="^HW[0-9a-f]{32}$")]


class DataSessionReport(
    msgspec.Struct, frozen=True, gc=False, kw_only=True, forbid_unknown_fields=True
):
    session_id: SessionId  # unique per SIM: a repeat of it is a duplicate report
    account_sid: AccountSid  # the SIM's account, also the record key
    sim: Annotated[str, Meta(min_length=1, max_length=34)]  # HS sid or ICCID
    network_sid: NetworkSid  # the Network (HW) the session used
    bytes_up: Bytes
    bytes_down: Bytes
    start_time: UtcDatetime
    end_time: UtcDatetime  # decides the billing period and the hour the bytes count in
    sequence: Annotated[int, Meta(ge=1, le=2**62)] | None = None  # the SIM's session number


class UsageBucket(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Bytes one SIM moved in one billing period and hour, on one Network, in one Fleet."""

    account_sid: str
    sim_sid: str
    fleet_sid: str | None  # the Sim's Fleet when the reports were recorded
    network_sid: str
    period_start: int  # epoch seconds, UTC
    period_end: int
    hour: int  # epoch seconds of the hour the sessions ended in
    bytes_up: int
    bytes_down: int
    sessions: list[str]  # the session ids counted here, each once per SIM and period
    data_disabled: bool = False  # the Fleet had data disabled: recorded, and flagged
    sequences: list[int] = []  # the session numbers counted here, of reports that had one


DataStateKind = Literal["suspend", "resume", "activate"]


class DataStateChange(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A threshold crossed, and the command sent for it in the same transaction."""

    command_id: str
    kind: DataStateKind
    account_sid: str
    sim_sid: str
    seq: int  # the Sim's count of suspend/resume changes so far (names the next command)
    period_start: int
    period_end: int
    data_used: int  # bytes: in the period (suspend/resume) or in total (activate)
    data_limit: int | None  # MB
    fleet_sid: str | None
    reason: str


class UsageFacts(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    current_period: int  # the processor's billing period (epoch seconds) when it wrote this
    reports: int = 0  # input reports this transaction consumed (duplicates and rejects too)
    buckets: list[UsageBucket] = []
    changes: list[DataStateChange] = []


_encoder = msgspec.json.Encoder()
_report_decoder = msgspec.json.Decoder(DataSessionReport)
_facts_decoder = msgspec.json.Decoder(UsageFacts)


def encode_report(report: DataSessionReport) -> bytes:
    return _encoder.encode(report)


def decode_report(data: bytes | str) -> DataSessionReport:
    try:
        report = _report_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"invalid usage report: {exc}") from exc
    if report.end_time < report.start_time:
        raise InvalidMessage("invalid usage report: end_time is before start_time")
    return report


def encode_facts(facts: UsageFacts) -> bytes:
    return _encoder.encode(facts)


def decode_facts(data: bytes | str) -> UsageFacts:
    try:
        return _facts_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"invalid usage facts: {exc}") from exc
