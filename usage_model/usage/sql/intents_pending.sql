SELECT DISTINCT day FROM usage_rebuild_intents
WHERE target IN (SELECT unnest($targets::VARCHAR[]))
