-- Small named markers of background jobs, e.g. how far reconciliation with
-- getStarTransactions has read, so a restart resumes instead of rereading all.
-- depends: 0001_initial

CREATE TABLE sync_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
