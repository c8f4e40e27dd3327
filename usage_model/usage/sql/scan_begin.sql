-- What the scan of one file keeps across its batches (see file_scan.read_file): per batch,
-- its rows counted by validity and day, and its rows that broke a rule with the row as it
-- landed. A file's totals, day counts and quarantine are read from these at its end.
CREATE OR REPLACE TEMP TABLE scan_tally (
    valid BOOLEAN, day DATE, rows BIGINT,
    min_occurred_at TIMESTAMPTZ, max_occurred_at TIMESTAMPTZ
);
CREATE OR REPLACE TEMP TABLE scan_rejected (
    source_row BIGINT, event_id VARCHAR, day DATE, reason VARCHAR, detail VARCHAR,
    raw_json VARCHAR
);
