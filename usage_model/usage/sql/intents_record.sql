-- One intent per (target, day): the rebuild a later run owes.
INSERT INTO usage_rebuild_intents
SELECT t, d, $reason, $path, now()
FROM unnest($targets::VARCHAR[]) AS u(t), unnest($days::DATE[]) AS v(d)
