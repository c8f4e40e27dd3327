INSERT INTO stripe_events (event_id, type, created, object_id, livemode, source, consumed_at)
VALUES ($event_id, $type, $created, $object_id, $livemode, $source, $consumed_at)
ON CONFLICT DO NOTHING
