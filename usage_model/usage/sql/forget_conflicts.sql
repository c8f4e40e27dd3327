DELETE FROM usage_quarantine
WHERE reason = 'duplicate_conflict' AND day IN (SELECT unnest($days::DATE[]))
