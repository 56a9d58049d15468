-- Data usage read models (the usage projector, from the usage log) and the Sim's data state
-- (the events projector, from SimDataSuspended / SimDataResumed).

alter table sims add column data_suspended boolean not null default false;

-- Usage per Sim, hour, Network and the Fleet the Sim belonged to when the usage was recorded:
-- the grain of Twilio's UsageRecords (Granularity hour/day/all, Group sim/fleet/network/
-- isoCountry). Rows only grow: each usage-log record adds its bytes, under the tracking row.
create table usage_hourly (
    account_sid text not null,
    sim_sid text not null,
    fleet_sid text,
    fleet_key text generated always as (coalesce(fleet_sid, '')) stored,
    network_sid text not null,
    hour timestamptz not null,
    data_upload bigint not null,
    data_download bigint not null,
    -- bytes reported while the Sim's Fleet had data disabled (counted, and flagged)
    data_disabled_bytes bigint not null default 0,
    primary key (sim_sid, hour, network_sid, fleet_key)
);
create index usage_hourly_by_account on usage_hourly (account_sid, hour);
create index usage_hourly_by_fleet on usage_hourly (account_sid, fleet_sid, hour);
create index usage_hourly_by_network on usage_hourly (account_sid, network_sid, hour);

-- Usage per Sim and billing period: what the Sim's fetch shows for the current period.
create table sim_usage (
    sim_sid text not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    account_sid text not null,
    data_upload bigint not null,
    data_download bigint not null,
    data_disabled_bytes bigint not null default 0,
    primary key (sim_sid, period_start)
);
