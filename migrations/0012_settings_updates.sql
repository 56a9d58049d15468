-- Settings Updates (OB): what a change of a Sim's settings sends to the SIM, with the status
-- the network reports. packages: [{"name": "HA...", "version": "..."}], what the SIM holds once
-- the update succeeds. Listed by date like every resource, filtered by Sim and Status.
create table settings_updates (
    sid text primary key,
    account_sid text not null,
    sim_sid text not null,
    iccid text not null,
    status text not null,
    packages jsonb not null,
    date_completed timestamptz,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index settings_updates_by_date on settings_updates (account_sid, date_created, sid);
create index settings_updates_by_sim on settings_updates (account_sid, sim_sid, date_created, sid);
create index settings_updates_by_status on settings_updates (account_sid, status, date_created, sid);
