SELECT version, supersedes, status, content_sha256, attempts FROM export_ledger
WHERE export = $export AND period = $period ORDER BY version DESC LIMIT 1
