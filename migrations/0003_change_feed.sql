-- Lets every process see what changed since it last looked (the in-memory
-- leaderboards of several `serve` processes converge within a second or two).
-- depends: 0002_sync_state

ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE users SET updated_at = created_at;
CREATE INDEX users_updated_at ON users (updated_at);
CREATE INDEX payments_paid_at ON payments (paid_at);
CREATE INDEX payments_refunded_at ON payments (refunded_at);
