-- Usage domain tables (docs/tables.md: summary names and columns are a contract).

-- Every landed usage file the pipeline has seen.
CREATE TABLE IF NOT EXISTS usage_files (
    file_id       BIGINT PRIMARY KEY,
    path          VARCHAR NOT NULL UNIQUE,   -- relative to landing/usage, '/' separators
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    fingerprint   VARCHAR,                   -- sha256 of the file bytes; NULL if unopenable
    shape         VARCHAR,                   -- native | downcity | NULL when unreadable
    status        VARCHAR NOT NULL,          -- ok | unreadable_file | schema_mismatch
    rows_read     BIGINT,
    rows_valid    BIGINT,
    rows_invalid  BIGINT,
    min_day       DATE,
    max_day       DATE,
    scanned_at    TIMESTAMPTZ NOT NULL,
    min_occurred_at TIMESTAMPTZ,             -- first and last valid event time in the file
    max_occurred_at TIMESTAMPTZ
);
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS min_occurred_at TIMESTAMPTZ;
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS max_occurred_at TIMESTAMPTZ;
-- Content identity (see landing.py): the change time says whether the bytes may have changed
-- (a rewrite that restores size and mtime still sets it); the footer hash decides cheaply, the
-- full hash (`fingerprint`) where the footer is the same.
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS ctime_ns BIGINT;
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS footer_sha256 VARCHAR;
ALTER TABLE usage_files ALTER COLUMN fingerprint DROP NOT NULL;
-- Object stores only: the listing time (ns) from which the file's size and modification time
-- alone say its bytes are unchanged (see landing.settles); NULL: the footer is checked.
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS settled_at_ns BIGINT;

-- Work a later run owes: days whose curated events (target usage_events) or whose summaries
-- (target = a summary table; `day` is the month's first day for monthly tables) must be
-- rebuilt. Written in the transaction that makes them stale, deleted in the one that rebuilds
-- them, so a run that fails or is killed in between leaves them for the next run.
CREATE TABLE IF NOT EXISTS usage_rebuild_intents (
    target       VARCHAR NOT NULL,
    day          DATE NOT NULL,
    reason       VARCHAR NOT NULL,           -- new_rows | removed_file | changed_file |
                                             -- winner_moved | events_rebuilt
    source_path  VARCHAR,                    -- the landed file behind it, relative to landing/usage
    recorded_at  TIMESTAMPTZ NOT NULL
);

-- The cross-file, cross-day deduplication index lives in Parquet segments per id bucket
-- (usage_model/usage/id_index.py); the warehouse says which segments are current and which
-- manifest files they hold (`indexed`). A file scanned but not yet folded in has it unset.
CREATE TABLE IF NOT EXISTS usage_index_segments (
    bucket    INTEGER NOT NULL,              -- md5_number_lower(event_id) % buckets
    segment   VARCHAR NOT NULL,              -- file name under _index/bucket=NNN/
    seq       BIGINT NOT NULL,               -- write order (newer segments are larger)
    rows      BIGINT NOT NULL,
    file_ids  BIGINT[] NOT NULL              -- manifest files whose rows it holds
);
ALTER TABLE usage_files ADD COLUMN IF NOT EXISTS indexed BOOLEAN;
-- Index update plans whose folds may run on other workers (id_index.py, index_folds.py):
-- the segments and staged rows they write are spared by orphan removal until their commit,
-- or until their run has ended.
CREATE TABLE IF NOT EXISTS usage_index_plans (
    plan_id     VARCHAR PRIMARY KEY,         -- the run's id, 32 hex digits
    planned_at  TIMESTAMPTZ NOT NULL
);
-- usage_repeated_ids (every index row of an id with more than one copy) is created by the
-- index update (sql/repeated_create.sql), filled from the segments when it is missing.
-- Valid rows per file and day, counted at scan: what a build of those days must classify.
CREATE TABLE IF NOT EXISTS usage_file_days (
    file_id  BIGINT NOT NULL,
    day      DATE NOT NULL,
    rows     BIGINT NOT NULL
);
-- Warehouses from before the partitioned index: their files are indexed again from their
-- scanned rows (indexed is unset), and the old all-time table goes.
DROP TABLE IF EXISTS usage_event_index;

CREATE TABLE IF NOT EXISTS usage_quarantine (
    source_file   VARCHAR NOT NULL,          -- relative to landing/usage
    source_row    BIGINT,                    -- NULL for a whole-file rejection
    event_id      VARCHAR,
    day           DATE,                      -- set when the row's time is known
    reason        VARCHAR NOT NULL,
    detail        VARCHAR NOT NULL,
    raw_json      VARCHAR,
    row_count     BIGINT,                    -- rows in a rejected file, when known
    quarantined_at TIMESTAMPTZ NOT NULL
);

-- Per-day load accounting written by usage_events (conservation per partition).
CREATE TABLE IF NOT EXISTS usage_day_loads (
    day                   DATE PRIMARY KEY,
    rows_indexed          BIGINT NOT NULL,
    accepted              BIGINT NOT NULL,
    identical_duplicates  BIGINT NOT NULL,
    conflicts             BIGINT NOT NULL,
    built_at              TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_daily_by_model (
    day DATE NOT NULL, model_id VARCHAR,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL,
    distinct_users BIGINT NOT NULL, distinct_cities BIGINT NOT NULL,
    p50_latency_ms DOUBLE, p95_latency_ms DOUBLE
);

CREATE TABLE IF NOT EXISTS usage_daily_by_city (
    day DATE NOT NULL, city_id VARCHAR NOT NULL,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL,
    distinct_users BIGINT NOT NULL,
    p50_latency_ms DOUBLE, p95_latency_ms DOUBLE
);

CREATE TABLE IF NOT EXISTS usage_daily_by_user (
    day DATE NOT NULL, city_id VARCHAR NOT NULL, user_id VARCHAR,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL
);

-- Downcity-style overview grain (city, service, status) per day, so `summary` with no
-- grouping answers from a pre-aggregate too.
CREATE TABLE IF NOT EXISTS usage_daily_by_service (
    day DATE NOT NULL, city_id VARCHAR NOT NULL, service VARCHAR, status VARCHAR NOT NULL,
    calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL
);

-- Monthly rollups: `period` is the first day of the month; distinct counts are exact.
CREATE TABLE IF NOT EXISTS usage_monthly_by_model (
    period DATE NOT NULL, model_id VARCHAR,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL,
    distinct_users BIGINT NOT NULL, distinct_cities BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_monthly_by_city (
    period DATE NOT NULL, city_id VARCHAR NOT NULL,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL,
    distinct_users BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS usage_monthly_by_user (
    period DATE NOT NULL, city_id VARCHAR NOT NULL, user_id VARCHAR,
    calls BIGINT NOT NULL, success_calls BIGINT NOT NULL, error_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
    cost_credits BIGINT NOT NULL
);
