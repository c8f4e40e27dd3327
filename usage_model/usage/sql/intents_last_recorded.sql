SELECT max(recorded_at)::VARCHAR FROM usage_rebuild_intents
