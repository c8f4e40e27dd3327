-- Written in the same transaction as the data the cursor covers.
INSERT INTO stripe_sync_state (name, value, updated_at) VALUES ($cursor, $value, $updated_at)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
