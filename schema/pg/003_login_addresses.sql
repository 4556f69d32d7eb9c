-- PostgreSQL dialect of schema/003_login_addresses.sql (db_pg_migrate takes this file instead):
-- the same tables, columns and indexes; rowid ids are identities, SQLite's
-- INTEGER (64 bits) is BIGINT, BLOB is BYTEA, GLOB a regular expression.
-- The client addresses each account logged in from (issue 8): failed
-- logins from such an address count against that address only, never
-- toward the account-wide backoff, so that guessing from elsewhere cannot
-- lock the owner out of the owner's own address.
CREATE TABLE login_addresses (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  addr TEXT NOT NULL,
  last_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, addr)
);
