-- Funding domain tables (docs/tables.md "Funding", docs/funding.md). Idempotent DDL.

-- Append-only ledger: a superset of Downcity's service_balance_ledger. `ref` is the
-- idempotency key (one entry per topup credit, refund debit, dispute movement, charge...).
CREATE TABLE IF NOT EXISTS balance_ledger (
    entry_id       VARCHAR NOT NULL PRIMARY KEY,
    user_id        VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,     -- topup | refund | refund_reversal | dispute | dispute_reversal | charge | ...
    amount         BIGINT NOT NULL,      -- credits, signed
    balance_after  BIGINT NOT NULL,
    unit           VARCHAR NOT NULL DEFAULT 'credits',
    note           VARCHAR,
    ref            VARCHAR NOT NULL UNIQUE,
    metadata_json  VARCHAR,
    created_at     TIMESTAMPTZ NOT NULL,
    seq            BIGINT NOT NULL       -- insertion order (balance_after follows it)
);
-- Where an entry came from: `downcity` (a mirror of Downcity's service_balance_ledger; then
-- `ref` is `downcity:<entry_id>` and Downcity's own ref is `source_ref`), `stripe` (standalone:
-- derived from Stripe), `city-usage` (standalone: charges debited by the pricing hook).
ALTER TABLE balance_ledger ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'city-usage';
ALTER TABLE balance_ledger ADD COLUMN IF NOT EXISTS source_ref VARCHAR;

-- Which ledger is the wallet of record, and why (one row, rewritten by every reconciliation).
CREATE TABLE IF NOT EXISTS funding_mode (
    mode                     VARCHAR NOT NULL,   -- downcity | standalone
    reason                   VARCHAR NOT NULL,
    downcity_ledger_entries  BIGINT NOT NULL,
    decided_at               TIMESTAMPTZ NOT NULL
);

-- The ledger sum per user and unit, maintained by ledger.append_entries.
CREATE TABLE IF NOT EXISTS balances (
    user_id     VARCHAR NOT NULL,
    unit        VARCHAR NOT NULL,
    balance     BIGINT NOT NULL,
    entries     BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, unit)
);

-- Downcity's exports as landed (usage_model/funding/downcity.py): one row per key, the latest
-- export row wins; rebuilt from landing/balance/ on every load. Times are UTC instants.
CREATE TABLE IF NOT EXISTS downcity_topups (
    topup_id       VARCHAR NOT NULL PRIMARY KEY,
    user_id        VARCHAR NOT NULL,
    credits        BIGINT NOT NULL,
    status         VARCHAR NOT NULL,     -- pending | paid | canceled (cancelled is read as canceled)
    note           VARCHAR,
    ref            VARCHAR,
    metadata_json  VARCHAR,
    created_at     TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ,
    source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL  -- provenance: the landed file and row
);

CREATE TABLE IF NOT EXISTS downcity_payments (
    payment_id           VARCHAR NOT NULL PRIMARY KEY,
    provider             VARCHAR,
    topup_id             VARCHAR,
    user_id              VARCHAR,
    provider_session_id  VARCHAR,
    provider_payment_id  VARCHAR,
    provider_order_id    VARCHAR,
    credits              BIGINT,
    amount_minor         BIGINT,
    currency             VARCHAR,
    status               VARCHAR,        -- pending | paid | expired
    metadata_json        VARCHAR,
    created_at           TIMESTAMPTZ,
    updated_at           TIMESTAMPTZ,
    source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL  -- provenance: the landed file and row
);

CREATE TABLE IF NOT EXISTS downcity_ledger (
    entry_id       VARCHAR NOT NULL PRIMARY KEY,
    user_id        VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,     -- init | add | sub | topup | redeem | charge
    credits_delta  BIGINT NOT NULL,
    credits_after  BIGINT,
    note           VARCHAR,
    ref            VARCHAR,
    metadata_json  VARCHAR,
    created_at     TIMESTAMPTZ,
    source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL  -- provenance: the landed file and row
);

CREATE TABLE IF NOT EXISTS downcity_accounts (
    user_id      VARCHAR NOT NULL PRIMARY KEY,
    credits      BIGINT NOT NULL,
    created_at   TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ,
    source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL  -- provenance: the landed file and row
);

CREATE TABLE IF NOT EXISTS downcity_charges (
    charge_id      VARCHAR NOT NULL PRIMARY KEY,
    user_id        VARCHAR NOT NULL,
    credits        BIGINT NOT NULL,
    status         VARCHAR,
    note           VARCHAR,
    ref            VARCHAR,
    metadata_json  VARCHAR,
    created_at     TIMESTAMPTZ,
    source_file VARCHAR NOT NULL, source_row BIGINT NOT NULL  -- provenance: the landed file and row
);

-- Landed Downcity rows that could not be used, with the reason (never dropped silently).
CREATE TABLE IF NOT EXISTS downcity_rejects (
    source_file  VARCHAR NOT NULL,
    source_row   BIGINT,
    reason       VARCHAR NOT NULL,
    detail       VARCHAR NOT NULL,
    raw_json     VARCHAR,
    rejected_at  TIMESTAMPTZ NOT NULL
);

-- Every distinct snapshot of a Stripe object ever seen (what Stripe said, verbatim JSON).
CREATE TABLE IF NOT EXISTS stripe_objects (
    id             VARCHAR NOT NULL,
    type           VARCHAR NOT NULL,     -- Stripe's `object` (checkout.session, refund, ...)
    created        BIGINT,
    livemode       BOOLEAN,
    snapshot_hash  VARCHAR NOT NULL,
    json           VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,     -- event:<evt id> | fetch | list
    first_seen_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, snapshot_hash)
);

-- Every Stripe event consumed (pulled or landed by the webhook), deduplicated by id.
CREATE TABLE IF NOT EXISTS stripe_events (
    event_id      VARCHAR NOT NULL PRIMARY KEY,
    type          VARCHAR NOT NULL,
    created       BIGINT NOT NULL,
    object_id     VARCHAR,
    livemode      BOOLEAN,
    source        VARCHAR NOT NULL,      -- api | webhook
    consumed_at   TIMESTAMPTZ NOT NULL
);

-- Sync cursors, written in the same transaction as the data they cover.
CREATE TABLE IF NOT EXISTS stripe_sync_state (
    name        VARCHAR NOT NULL PRIMARY KEY,
    value       VARCHAR NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS reconciliation_exceptions (
    reason            VARCHAR NOT NULL,
    topup_id          VARCHAR,
    stripe_object_id  VARCHAR NOT NULL,
    user_id           VARCHAR,
    detail            VARCHAR NOT NULL,
    first_seen_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (reason, stripe_object_id)
);
-- Credits the exception concerns: a Stripe payment's worth (null when its currency is
-- unconfigured); for account_ledger_mismatch, account credits minus Downcity's ledger sum.
ALTER TABLE reconciliation_exceptions ADD COLUMN IF NOT EXISTS credits_at_stake BIGINT;

CREATE TABLE IF NOT EXISTS topups (
    topup_id                  VARCHAR NOT NULL PRIMARY KEY,
    user_id                   VARCHAR,
    state                     VARCHAR NOT NULL,
    amount_credits            BIGINT,
    credited_credits          BIGINT NOT NULL,
    reversed_credits          BIGINT NOT NULL,
    stripe_checkout_session   VARCHAR,
    stripe_payment_intent     VARCHAR,
    stripe_charge             VARCHAR,
    currency                  VARCHAR,
    amount_minor              BIGINT,
    downcity_status           VARCHAR,
    created_at                TIMESTAMPTZ,
    updated_at                TIMESTAMPTZ NOT NULL
);

-- One verdict per topup (`row_kind` topup) and per Stripe payment not shown on its topup's row
-- (`row_kind` stripe_payment: no topup named, a second payment, ...). Rebuilt every run.
CREATE TABLE IF NOT EXISTS reconciliation_report (
    report_key               VARCHAR NOT NULL PRIMARY KEY,  -- topup:<id> | stripe:<object id>
    row_kind                 VARCHAR NOT NULL,
    topup_id                 VARCHAR,
    user_id                  VARCHAR,
    downcity_status          VARCHAR,
    downcity_amount          BIGINT,      -- credits on Downcity's topup record
    stripe_state             VARCHAR,
    stripe_amount            BIGINT,      -- credits Stripe's payment is worth
    ledger_credits           BIGINT NOT NULL,  -- credited minus reversed, in the wallet of record
    ledger_state             VARCHAR NOT NULL,
    verdict                  VARCHAR NOT NULL,
    detail                   VARCHAR,
    stale_pending            BOOLEAN NOT NULL,
    user_balance             BIGINT,
    built_at                 TIMESTAMPTZ NOT NULL,
    credits_at_stake         BIGINT NOT NULL,
    evidence                 VARCHAR NOT NULL,  -- stripe | downcity_payment | none
    stripe_payment           VARCHAR,
    downcity_payment_id      VARCHAR,
    downcity_payment_status  VARCHAR,
    credited_by              VARCHAR,
    credited_at              TIMESTAMPTZ,
    wallet_mode              VARCHAR NOT NULL
);

-- Which payment providers are configured and exposed (never a secret).
CREATE TABLE IF NOT EXISTS payment_methods (
    provider              VARCHAR NOT NULL PRIMARY KEY,
    configured            BOOLEAN NOT NULL,
    exposed               BOOLEAN NOT NULL,
    mode                  VARCHAR,
    webhook_configured    BOOLEAN NOT NULL,
    custom_api_base       BOOLEAN NOT NULL,
    checkout              VARCHAR,
    currencies_configured VARCHAR,
    updated_at            TIMESTAMPTZ NOT NULL
);
