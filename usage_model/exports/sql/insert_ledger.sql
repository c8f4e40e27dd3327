-- The intent: a version is recorded pending before any delivery is tried.
INSERT INTO export_ledger (export, period, version, supersedes, sink, source, idempotency_key,
    content_sha256, rows, status, attempts, detail, created_at)
VALUES ($export, $period, $version, $supersedes, $sink, $source, $idempotency_key,
        $content_sha256, $rows, 'pending', 0, NULL, $created_at)
