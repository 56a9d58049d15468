-- The REST API's Idempotency-Keys, each bound to the first request that used it (a hash of its
-- method, path and form) for FLEETSTATE_COMMAND_DEDUP_HOURS; another request with the key is
-- 422 20422. Written by the API, not a read model: not from the log, never replayed.
create table idempotency_keys (
    account_sid text not null,
    idempotency_key text not null,
    fingerprint text not null,
    request text not null,  -- "METHOD /path", capped: to say what the key answers
    created_at timestamptz not null,
    primary key (account_sid, idempotency_key)
);
create index idempotency_keys_created_at on idempotency_keys (created_at);
