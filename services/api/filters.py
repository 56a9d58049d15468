"""The filters of a list of an account's resources: each one given is an equality on its
column, checked against its values when it has a fixed set. Shared by the lists whose filters
are all of that kind (SmsCommands, IpCommands, ESimProfiles, SettingsUpdates)."""

from __future__ import annotations

from typing import Any

from events.sids import SIM
from services.api.context import by_ref
from services.api.errors import invalid
from services.api.forms import Param


def check_values(values: dict[str, Any], spec: tuple[Param, ...]) -> None:
    """400 20001 for a filter outside its fixed set of values (Status, Direction...)."""
    for param in spec:
        if param.enum and param.field in values and values[param.field] not in param.enum:
            raise invalid(f"{param.name} must be one of {', '.join(param.enum)}")


async def equality_filters(
    db, account: str, values: dict[str, Any], spec: tuple[Param, ...]
) -> tuple[list[str], list[Any], list[tuple[str, str]]]:
    """(where, args, the filters as given, for the page URLs) of the account's rows matching
    every filter of `spec` in `values`. `Sim` takes a SID or unique name and is a filter, not a
    reference: an unknown Sim simply matches nothing."""
    where, args, filters = ["account_sid = $1"], [account], []
    for param in spec:
        if param.field not in values:
            continue
        value = values[param.field]
        filters.append((param.name, value))
        column = param.field
        if param.field == "sim":
            column = "sim_sid"
            condition = "select sid from sims where account_sid = $1 and " + by_ref(SIM, value, 2)
            value = await db.fetchval(condition, account, value) or value
        args.append(value)
        where.append(f"{column} = ${len(args)}")
    return where, args, filters
