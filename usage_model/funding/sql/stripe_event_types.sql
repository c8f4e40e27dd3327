SELECT object_id, type FROM stripe_events WHERE object_id IS NOT NULL
