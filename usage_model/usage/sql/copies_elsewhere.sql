-- Index rows outside {exclude} that share an event_id with {ids}: first the 8-byte id_hash
-- column alone (a scan that stays cheap as history grows), then, for the few hashes that
-- matched, the exact ids. {hash_filter} is the list of matched hashes as literals, so DuckDB
-- filters the scan itself and reads the other columns only for matching rows.
SELECT i.event_id, f.path, i.source_row, i.content_hash, i.day
FROM usage_event_index i
JOIN usage_files f USING (file_id)
WHERE {hash_filter} AND NOT ({exclude})
  AND i.event_id IN (SELECT event_id FROM ({ids}))
