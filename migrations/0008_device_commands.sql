-- Device commands: SmsCommands (HC) and IpCommands (HG), to a Sim (to_sim) and from it
-- (from_sim). Listed by date like every resource, filtered by Sim, Status and Direction.
create table sms_commands (
    sid text primary key,
    account_sid text not null,
    sim_sid text not null,
    sim_iccid text not null,
    payload text not null,
    status text not null,
    direction text not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index sms_commands_by_date on sms_commands (account_sid, date_created, sid);
create index sms_commands_by_sim on sms_commands (account_sid, sim_sid, date_created, sid);
create index sms_commands_by_status on sms_commands (account_sid, status, date_created, sid);

create table ip_commands (
    sid text primary key,
    account_sid text not null,
    sim_sid text not null,
    sim_iccid text not null,
    payload text not null,
    payload_type text not null,
    device_ip text,
    device_port integer not null,
    status text not null,
    direction text not null,
    version integer not null,
    date_created timestamptz not null,
    date_updated timestamptz not null
);
create index ip_commands_by_date on ip_commands (account_sid, date_created, sid);
create index ip_commands_by_sim on ip_commands (account_sid, sim_sid, date_created, sid);
create index ip_commands_by_iccid on ip_commands (account_sid, sim_iccid, date_created, sid);
create index ip_commands_by_status on ip_commands (account_sid, status, date_created, sid);
