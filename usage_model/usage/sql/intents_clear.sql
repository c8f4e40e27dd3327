-- The intents a rebuild satisfies (deleted in the transaction that commits it).
DELETE FROM usage_rebuild_intents
WHERE target IN (SELECT unnest($targets::VARCHAR[])) AND day IN (SELECT unnest($days::DATE[]))
