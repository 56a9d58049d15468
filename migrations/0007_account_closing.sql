-- Closing accounts: AccountClosed stamps the account; a closed account no longer authenticates.
-- (AuthTokenChanged needs no column: it replaces auth_token_hash.)
alter table accounts add column date_closed timestamptz;
