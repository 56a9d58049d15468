-- The address an active Sim holds (GET /v1/Sims/{SimSid}/IpAddresses): a row from
-- SimIpAddressAssigned until SimIpAddressReleased. `sid` is derived from the Sim and the
-- address: the keyset of the list's pages, never shown. `pool` is the pool it came from.
create table sim_ip_addresses (
    sim_sid text not null,
    ip_address text not null,
    sid text not null,
    account_sid text not null,
    ip_address_version text not null,
    pool text not null,
    date_created timestamptz not null,
    primary key (sim_sid, ip_address)
);
create index sim_ip_addresses_by_sim on sim_ip_addresses (account_sid, sim_sid, date_created, sid);

-- The address registry's addresses (the IpAddress aggregate), for the audit: who holds each
-- one now (null: free), from which pool, since which event.
create table ip_addresses (
    address text primary key,
    pool text,
    account_sid text,
    sim_sid text,
    request_id text,
    version integer not null,
    date_updated timestamptz not null
);
