-- One day's accepted events, in the curated file's order.
SELECT * FROM build_rows
WHERE outcome = 'accepted' AND day = $day
ORDER BY occurred_at, event_id
