-- Each built day's build generation: a rebuild of the day changes it (usage_day_loads is
-- rewritten in the build's transaction, and now() is that transaction's start).
SELECT day, epoch_us(built_at) FROM usage_day_loads WHERE day IN (SELECT unnest($days::DATE[]))
