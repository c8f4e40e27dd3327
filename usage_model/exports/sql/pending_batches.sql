SELECT l.version, l.supersedes, o.batch FROM export_ledger l
JOIN export_outbox o USING (export, period, version)
WHERE l.export = $export AND l.period = $period AND l.status = 'pending' ORDER BY l.version
