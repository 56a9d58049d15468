-- Webhook delivery (services/delivery): the delivery service's own state, not a read model
-- of the log. One row per event that calls a URL (its event id is the delivery's id and the
-- idempotency token of every attempt), one row per attempt, and the accounts' sealed auth
-- tokens to sign with (encrypted: services/delivery/sealing.py).
create table webhook_tokens (
    account_sid text primary key,
    auth_token_sealed text,
    version integer not null  -- of the Account aggregate: a token never goes back
);

create table webhook_deliveries (
    delivery_id text primary key,
    account_sid text not null,
    resource_sid text not null,  -- the SmsCommand, IpCommand or Sim it is about
    event_type text not null,
    url text not null,
    method text not null,
    params jsonb not null,
    host text not null,  -- host:port: the unit of the per-host cap
    status text not null,  -- pending | delivered | failed | expired
    attempts integer not null default 0,
    occurred_at timestamptz not null,  -- the event's time
    queued_at timestamptz not null,  -- when the delivery service took it
    first_attempt_at timestamptz,
    next_attempt_at timestamptz not null,  -- pending: due then (or a claim's lease ends)
    last_error text
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where status = 'pending';
create index webhook_deliveries_by_resource on webhook_deliveries (account_sid, resource_sid);

create table webhook_attempts (
    delivery_id text not null references webhook_deliveries,
    attempt integer not null,
    started_at timestamptz not null,
    latency_ms double precision not null,
    status_code integer,
    outcome text not null,  -- delivered | retryable | permanent
    error text,
    primary key (delivery_id, attempt)
);
