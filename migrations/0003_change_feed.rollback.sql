DROP INDEX payments_refunded_at;
DROP INDEX payments_paid_at;
DROP INDEX users_updated_at;
ALTER TABLE users DROP COLUMN updated_at;
