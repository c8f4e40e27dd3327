-- The range's touched ids the record may hold (their recorded rows go at the commit): those
-- with a copy in the current segments, of a file still indexed (index_other_copies) or
-- leaving the index. A recorded id has at least two copies there; a touched id with none
-- (a new id seen once so far) has no recorded row, so it need not cross to the commit.
SELECT event_id FROM index_other_copies
UNION
SELECT event_id FROM {{stale}}
WHERE NOT file_id IN (SELECT file_id FROM index_kept)
