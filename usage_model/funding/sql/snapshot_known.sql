SELECT count(*) FROM stripe_objects WHERE id = $id AND snapshot_hash = $snapshot_hash
