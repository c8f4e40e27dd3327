SELECT period, scope, subject_id, user_id, city_id, unit, included, limit_value, used,
       remaining, overage, over_limit
FROM entitlement_status WHERE period = $start ORDER BY scope, subject_id
