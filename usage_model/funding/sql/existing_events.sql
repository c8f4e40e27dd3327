SELECT event_id FROM stripe_events WHERE event_id IN (SELECT unnest($ids::VARCHAR[]))
