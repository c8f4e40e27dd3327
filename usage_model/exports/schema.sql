-- Exports domain: what was delivered where (docs/guarantees.md "Exactly once": one delivery per batch version).

-- One row per (export, period, version): the intent (pending) and then the outcome.
CREATE TABLE IF NOT EXISTS export_ledger (
    export           VARCHAR NOT NULL,
    period           VARCHAR NOT NULL,    -- partition key: the period's first day
    version          INTEGER NOT NULL,    -- 1, 2, ... per (export, period)
    supersedes       INTEGER,             -- snapshot sinks: the version this one replaces
    sink             VARCHAR NOT NULL,
    source           VARCHAR NOT NULL,
    idempotency_key  VARCHAR NOT NULL UNIQUE,   -- <export>:<period>:<version>
    content_sha256   VARCHAR NOT NULL,    -- of the period's source snapshot this version reflects
    rows             BIGINT NOT NULL,     -- rows in the batch (additive sinks: the difference)
    status           VARCHAR NOT NULL,    -- pending | delivered
    attempts         INTEGER NOT NULL,
    detail           VARCHAR,             -- last failure or delivery note (never a secret)
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    PRIMARY KEY (export, period, version)
);

-- The exact batch of each version (Arrow IPC), so a crashed delivery is resent byte-for-byte.
CREATE TABLE IF NOT EXISTS export_outbox (
    export   VARCHAR NOT NULL,
    period   VARCHAR NOT NULL,
    version  INTEGER NOT NULL,
    batch    BLOB NOT NULL,
    PRIMARY KEY (export, period, version)
);

-- Additive sinks: each Stripe meter event and its outcome; `identifier` is Stripe's dedup key.
CREATE TABLE IF NOT EXISTS export_meter_events (
    identifier          VARCHAR PRIMARY KEY,
    export              VARCHAR NOT NULL,
    period              VARCHAR NOT NULL,
    version             INTEGER NOT NULL,
    user_id             VARCHAR NOT NULL,
    stripe_customer_id  VARCHAR NOT NULL,
    value               BIGINT NOT NULL,
    event_timestamp     BIGINT NOT NULL,  -- unix seconds sent as `timestamp`
    status              VARCHAR NOT NULL, -- pending | delivered | rejected
    detail              VARCHAR,
    updated_at          TIMESTAMPTZ NOT NULL
);
