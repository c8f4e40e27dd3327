-- Valid rows the manifest holds per day of $days (sizes the build's groups of days).
SELECT d.day, sum(d.rows)
FROM usage_file_days d JOIN usage_files f USING (file_id)
WHERE f.status = 'ok' AND d.day IN (SELECT unnest($days::DATE[]))
GROUP BY d.day
