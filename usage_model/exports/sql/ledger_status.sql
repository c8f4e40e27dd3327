SELECT export, period, max(version) AS latest_version,
       count(*) FILTER (WHERE status = 'delivered') AS delivered_versions,
       count(*) FILTER (WHERE status = 'pending') AS pending_versions,
       sum(rows) FILTER (WHERE status = 'delivered') AS delivered_rows,
       max(delivered_at) AS last_delivered_at
FROM export_ledger GROUP BY export, period ORDER BY export, period
