-- Initial schema (spec section 9), written once for SQLite and PostgreSQL.
-- Times are Unix seconds (BIGINT) on both dialects.  Tons are BIGINT nano-tons
-- (1 ton = 10^9), exact whatever tons.decimals is set to; never floats.
-- depends:

CREATE TABLE users (
    tg_id BIGINT PRIMARY KEY,
    username TEXT,
    first_name TEXT,
    last_name TEXT,
    photo_url TEXT,
    language_code TEXT,
    created_at BIGINT NOT NULL,
    referrer_id BIGINT REFERENCES users (tg_id),
    is_blocked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX users_referrer_id ON users (referrer_id);

-- One row per invoice link we issued; its id is the Telegram invoice payload.
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    tg_id BIGINT NOT NULL REFERENCES users (tg_id),
    stars_amount INTEGER NOT NULL CHECK (stars_amount > 0),
    preset_id TEXT,
    tons_per_star TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX invoices_tg_id_created_at ON invoices (tg_id, created_at);

-- Every Stars payment Telegram told us about.  status: created (recorded, not yet
-- credited) -> paid (credited) -> refunded; failed is kept for the audit trail.
CREATE TABLE payments (
    telegram_payment_charge_id TEXT PRIMARY KEY,
    tg_id BIGINT NOT NULL,
    invoice_id TEXT,
    stars_amount INTEGER NOT NULL,
    tons_per_star TEXT NOT NULL,
    tons_amount BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('created', 'paid', 'refunded', 'failed')),
    created_at BIGINT NOT NULL,
    paid_at BIGINT,
    refunded_at BIGINT,
    raw TEXT
);
-- Only payments recorded but not yet credited are ever looked up by status.
CREATE INDEX payments_uncredited ON payments (created_at) WHERE status = 'created';
CREATE INDEX payments_tg_id ON payments (tg_id);

-- One row per credited payment.  referrer_id is the payer's referrer at credit
-- time (it never changes), kept here so refunds and checks need no join.
CREATE TABLE donations (
    charge_id TEXT PRIMARY KEY REFERENCES payments (telegram_payment_charge_id),
    tg_id BIGINT NOT NULL REFERENCES users (tg_id),
    referrer_id BIGINT,
    stars_amount INTEGER NOT NULL,
    tons_amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    week_key TEXT NOT NULL,
    refunded_at BIGINT
);
CREATE INDEX donations_created_at ON donations (created_at);
CREATE INDEX donations_week_key ON donations (week_key);
CREATE INDEX donations_tg_id_week_key ON donations (tg_id, week_key);
CREATE INDEX donations_referrer_id ON donations (referrer_id);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every rate the provider fetched, so a restart can fall back to the last one.
CREATE TABLE rates (
    fetched_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    tons_per_star TEXT NOT NULL
);
CREATE INDEX rates_fetched_at ON rates (fetched_at);

-- Aggregates, kept up to date inside the payment and refund transactions so no
-- request ever sums donations.  reached_at: when the total last changed (ties
-- go to whoever reached the total first).
CREATE TABLE user_totals (
    tg_id BIGINT PRIMARY KEY REFERENCES users (tg_id),
    tons BIGINT NOT NULL DEFAULT 0,
    stars BIGINT NOT NULL DEFAULT 0,
    donations INTEGER NOT NULL DEFAULT 0,
    reached_at BIGINT NOT NULL
);
CREATE INDEX user_totals_rank ON user_totals (tons DESC, reached_at, tg_id);

CREATE TABLE user_week_totals (
    week_key TEXT NOT NULL,
    tg_id BIGINT NOT NULL REFERENCES users (tg_id),
    tons BIGINT NOT NULL DEFAULT 0,
    stars BIGINT NOT NULL DEFAULT 0,
    donations INTEGER NOT NULL DEFAULT 0,
    reached_at BIGINT NOT NULL,
    PRIMARY KEY (week_key, tg_id)
);
CREATE INDEX user_week_totals_rank ON user_week_totals (week_key, tons DESC, reached_at, tg_id);

CREATE TABLE referrer_totals (
    referrer_id BIGINT PRIMARY KEY REFERENCES users (tg_id),
    referrals_count INTEGER NOT NULL DEFAULT 0,
    tons BIGINT NOT NULL DEFAULT 0,
    reached_at BIGINT NOT NULL
);
CREATE INDEX referrer_totals_rank ON referrer_totals (tons DESC, reached_at, referrer_id);

CREATE TABLE referrer_week_totals (
    week_key TEXT NOT NULL,
    referrer_id BIGINT NOT NULL REFERENCES users (tg_id),
    tons BIGINT NOT NULL DEFAULT 0,
    reached_at BIGINT NOT NULL,
    PRIMARY KEY (week_key, referrer_id)
);
CREATE INDEX referrer_week_totals_rank ON referrer_week_totals (week_key, tons DESC, reached_at, referrer_id);
