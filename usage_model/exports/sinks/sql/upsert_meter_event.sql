INSERT INTO export_meter_events (identifier, export, period, version, user_id,
                                 stripe_customer_id, value, event_timestamp, status, detail,
                                 updated_at)
VALUES ($identifier, $export, $period, $version, $user_id, $stripe_customer_id, $value,
        $event_timestamp, $status, $detail, $updated_at)
ON CONFLICT (identifier) DO UPDATE SET status = excluded.status, detail = excluded.detail,
    updated_at = excluded.updated_at
