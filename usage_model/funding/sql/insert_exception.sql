INSERT INTO reconciliation_exceptions
    (reason, topup_id, stripe_object_id, user_id, detail, first_seen_at, credits_at_stake)
VALUES ($reason, $topup_id, $stripe_object_id, $user_id, $detail, $first_seen_at,
        $credits_at_stake)
