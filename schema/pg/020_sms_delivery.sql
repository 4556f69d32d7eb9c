-- PostgreSQL dialect of schema/020_sms_delivery.sql: times are BIGINT.
-- SMS in two phases (scripts/sms.lua): a change's transaction stores the
-- message only (status 'pending' for a gateway driver, 'stored' for the
-- outbox); the main thread's tick claims due rows (pending -> sending,
-- one UPDATE ... WHERE status = 'pending', so that of several instances on
-- one database one sends each), calls the gateway outside any transaction,
-- and ends them 'sent', or 'pending' again with a later next_at (backoff),
-- or 'failed' after the last attempt. next_at: when a pending row is due,
-- or when a claim's lease ends (a process that died while sending).
ALTER TABLE sms_outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_outbox ADD COLUMN next_at BIGINT;
ALTER TABLE sms_outbox ADD COLUMN last_error TEXT;
ALTER TABLE sms_outbox ADD COLUMN sent_at BIGINT;
CREATE INDEX sms_due ON sms_outbox(status, next_at);
