-- The exact batch of a version, so a rerun resends the same bytes.
INSERT INTO export_outbox (export, period, version, batch)
VALUES ($export, $period, $version, $batch)
