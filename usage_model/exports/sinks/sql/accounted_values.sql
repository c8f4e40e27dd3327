-- What a period already sent (delivered, pending or rejected), per user.
SELECT user_id, sum(value)::BIGINT FROM export_meter_events
WHERE export = $export AND period = $period GROUP BY user_id
