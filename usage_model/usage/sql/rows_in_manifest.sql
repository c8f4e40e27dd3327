-- Valid rows the manifest holds for the days (what the build must classify, every one).
SELECT coalesce(sum(d.rows), 0)
FROM usage_file_days d JOIN usage_files f USING (file_id)
WHERE f.status = 'ok' AND d.day IN (SELECT unnest($days::DATE[]))
