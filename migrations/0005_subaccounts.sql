-- Subaccounts: an account created with a parent (AccountCreated.parent_account_sid). A parent
-- may move its Sims to its subaccounts and read them there.
alter table accounts add column parent_account_sid text;
create index accounts_parent on accounts (parent_account_sid) where parent_account_sid is not null;
