SELECT id, type, json FROM stripe_objects ORDER BY id, first_seen_at, snapshot_hash
