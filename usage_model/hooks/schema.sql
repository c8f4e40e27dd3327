-- Hooks domain: what the pricing and entitlement hooks produced, per period.
-- `period` is the first day of the period (a day or a month).

CREATE TABLE IF NOT EXISTS charges (
    period          DATE NOT NULL,
    user_id         VARCHAR,
    city_id         VARCHAR,
    amount_credits  BIGINT,            -- NULL = could not be priced; `reason` says why
    description     VARCHAR,
    ref             VARCHAR NOT NULL,  -- deterministic; the balance_ledger ref of its debit
    reason          VARCHAR,
    hook            VARCHAR NOT NULL,
    computed_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS entitlement_status (
    period       DATE NOT NULL,
    scope        VARCHAR NOT NULL,     -- user | city
    subject_id   VARCHAR NOT NULL,
    user_id      VARCHAR,
    city_id      VARCHAR,
    unit         VARCHAR NOT NULL,
    included     BIGINT NOT NULL,
    limit_value  BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    remaining    BIGINT NOT NULL,
    overage      BIGINT NOT NULL,
    over_limit   BOOLEAN NOT NULL,
    hook         VARCHAR NOT NULL,
    computed_at  TIMESTAMPTZ NOT NULL
);
