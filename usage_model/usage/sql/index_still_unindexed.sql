-- Which of $file_ids the manifest still holds, unindexed (an update's plan saw them so).
SELECT file_id FROM usage_files
WHERE status = 'ok' AND indexed IS NOT TRUE AND list_contains($file_ids::BIGINT[], file_id)
