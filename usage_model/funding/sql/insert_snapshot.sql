INSERT INTO stripe_objects (id, type, created, livemode, snapshot_hash, json, source,
                            first_seen_at)
VALUES ($id, $type, $created, $livemode, $snapshot_hash, $json, $source, $first_seen_at)
ON CONFLICT DO NOTHING
