-- Downcity's current export (0.1.211): `usage_` + 16 random base64url characters (derived
-- from the native id here, so the same seed gives the same ids), `city_id`, model_id '' when no
-- model variant was chosen, snake_case metadata keys (a key is absent when unset, `error`
-- carries the error text), millisecond `Z` times ($ms is the strftime format).
SELECT 'usage_' || left(replace(replace(to_base64(unhex(sha256(event_id))), '+', '-'), '/', '_'),
                        16) AS event_id,
       city_id, user_id, service, CASE WHEN service = 'tool' THEN '' ELSE model_id END AS model_id,
       status,
       CASE WHEN error IS NULL
            THEN json_object('started_at', strftime(occurred_at, $ms),
                             'ended_at', strftime(ended_at, $ms))
            ELSE json_object('started_at', strftime(occurred_at, $ms),
                             'ended_at', strftime(ended_at, $ms), 'error', error)
       END::VARCHAR AS metadata_json,
       strftime(occurred_at, $ms) AS created_at
FROM (SELECT *, occurred_at + to_milliseconds(latency_ms::BIGINT) AS ended_at FROM {{exported}})
