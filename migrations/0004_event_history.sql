-- The event-history read model: one row per event of the log, for audits (who changed what,
-- when) and for the state of a resource as of any moment (its events folded up to then).
-- Written by the projector through the same pure changes() as every other read model, so a
-- replay rebuilds it too. payload is the event's payload as decoded (upcast to
-- schema_version); log_partition and log_offset say where the event sits in the events topic.
-- Versions are indexed, not constrained unique: the read model mirrors the log (0002).
-- Ids are ASCII: collation "C" orders them as bytes, the cheapest comparison there is.
create table event_history (
    event_id text collate "C" primary key,
    account_sid text collate "C" not null,
    aggregate_type text collate "C" not null,
    aggregate_id text collate "C" not null,
    aggregate_version integer not null,
    type text not null,
    schema_version integer not null,
    occurred_at timestamptz not null,
    actor text not null,
    command_id text not null,
    correlation_id text,
    payload jsonb not null,
    log_partition integer not null,
    log_offset bigint not null
);
create index event_history_by_aggregate
    on event_history (account_sid, aggregate_id, aggregate_version);
-- A unique name resolves to the resources that ever carried it (created with it or renamed
-- to it); as-of then folds each candidate to see which carried it at the moment asked.
create index event_history_by_name
    on event_history (
        account_sid,
        aggregate_type,
        (coalesce(payload ->> 'to_unique_name', payload ->> 'unique_name'))
    )
    where coalesce(payload ->> 'to_unique_name', payload ->> 'unique_name') is not null;
