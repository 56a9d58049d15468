-- Read models: what the REST API serves, rebuilt from fleetstate.events alone.
-- Every row carries the aggregate version and the times of the events that made it, so a
-- replay from offset 0 reproduces it exactly. Unique names are enforced by the decider, not
-- here: the read model mirrors the log, and within one batch a rename swap may pass through
-- a state a unique index would refuse.

create table accounts (
    sid text primary key,
    friendly_name text not null,
    auth_token_hash text not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);

-- The operator's carrier catalogue. identifiers: [{"mcc": "310", "mnc": "410"}, ...]
create table networks (
    sid text primary key,
    friendly_name text not null,
    iso_country text not null,
    identifiers jsonb not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index networks_by_date on networks (date_created, sid);
create index networks_identifiers on networks using gin (identifiers jsonb_path_ops);

-- The operator's SIM-card inventory. Which account registered a card is read from sims.
create table sim_cards (
    iccid text primary key,
    registration_code_hash text not null,
    version integer not null,
    date_created timestamptz not null
);

create table network_access_profiles (
    sid text primary key,
    account_sid text not null,
    unique_name text,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index network_access_profiles_by_date
    on network_access_profiles (account_sid, date_created, sid);
create index network_access_profiles_by_name
    on network_access_profiles (account_sid, unique_name) where unique_name is not null;

create table network_access_profile_networks (
    network_access_profile_sid text not null,
    network_sid text not null,
    account_sid text not null,
    date_created timestamptz not null,
    primary key (network_access_profile_sid, network_sid)
);

create table fleets (
    sid text primary key,
    account_sid text not null,
    unique_name text,
    network_access_profile_sid text not null,
    data_enabled boolean not null,
    data_limit integer not null,
    data_metering text not null,
    sms_commands_enabled boolean not null,
    sms_commands_url text,
    sms_commands_method text not null,
    ip_commands_url text,
    ip_commands_method text not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index fleets_by_date on fleets (account_sid, date_created, sid);
create index fleets_by_name on fleets (account_sid, unique_name) where unique_name is not null;
create index fleets_by_profile
    on fleets (account_sid, network_access_profile_sid, date_created, sid);

create table sims (
    sid text primary key,
    account_sid text not null,
    unique_name text,
    iccid text not null,
    status text not null,
    fleet_sid text,
    callback_url text,
    callback_method text,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index sims_by_date on sims (account_sid, date_created, sid);
create index sims_by_name on sims (account_sid, unique_name) where unique_name is not null;
create index sims_by_status on sims (account_sid, status, date_created, sid);
create index sims_by_fleet on sims (account_sid, fleet_sid, date_created, sid);
create index sims_by_iccid on sims (account_sid, iccid);

-- Tracking: besides next_offset (0001), what the projector knew of its lag at its last batch:
-- events still behind the partition's end, and how long the batch's oldest event had waited
-- in the log before it was applied.
alter table projection_offsets
    add column last_event_at timestamptz,
    add column events_behind bigint not null default 0,
    add column seconds_behind double precision not null default 0;

-- Events the projector could not read (a newer schema than it knows, say): kept, not lost.
create table projection_skipped (
    projection text not null,
    topic text not null,
    partition integer not null,
    "offset" bigint not null,
    reason text not null,
    skipped_at timestamptz not null default now(),
    primary key (projection, topic, partition, "offset")
);
