-- The client addresses each account logged in from (issue 8): failed
-- logins from such an address count against that address only, never
-- toward the account-wide backoff, so that guessing from elsewhere cannot
-- lock the owner out of the owner's own address.
CREATE TABLE login_addresses (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  addr TEXT NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, addr)
);
