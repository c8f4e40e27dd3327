SELECT value FROM stripe_sync_state WHERE name = $cursor
