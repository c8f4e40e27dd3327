INSERT INTO usage_quarantine
SELECT c.source_file, c.source_row, c.event_id, c.day, 'duplicate_conflict',
       format('{} row {} (event_id {}): duplicate_conflict: differs from the first-seen copy at {} row {}',
              c.source_file, c.source_row, left(c.event_id, 80), c.winner_file, c.winner_row),
       r.raw_json, NULL, now()
FROM copy_outcomes c
LEFT JOIN conflict_raw r ON r.source_file = c.source_file AND r.source_row = c.source_row
WHERE c.outcome = 'conflict'
