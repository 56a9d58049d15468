-- eSIM Profiles (HP), ordered from the SM-DP+: listed by date like every resource, filtered
-- by Eid, SimSid and Status.
create table esim_profiles (
    sid text primary key,
    account_sid text not null,
    eid text,
    status text not null,
    iccid text,
    sim_sid text,
    smdp_plus_address text,
    matching_id text,
    activation_code text,
    error_code text,
    error_message text,
    callback_url text,
    callback_method text not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index esim_profiles_by_date on esim_profiles (account_sid, date_created, sid);
create index esim_profiles_by_eid on esim_profiles (account_sid, eid, date_created, sid);
create index esim_profiles_by_sim on esim_profiles (account_sid, sim_sid, date_created, sid);
create index esim_profiles_by_status on esim_profiles (account_sid, status, date_created, sid);
