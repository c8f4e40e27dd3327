-- A file-level rejection: one quarantine row for the whole file.
INSERT INTO usage_quarantine
VALUES ($path, NULL, NULL, NULL, $reason, $detail, NULL, $rows, now())
