INSERT INTO topups (topup_id, user_id, state, amount_credits, credited_credits,
                    reversed_credits, stripe_checkout_session, stripe_payment_intent,
                    stripe_charge, currency, amount_minor, downcity_status, created_at,
                    updated_at)
VALUES ($topup_id, $user_id, $state, $amount_credits, $credited_credits, $reversed_credits,
        $stripe_checkout_session, $stripe_payment_intent, $stripe_charge, $currency,
        $amount_minor, $downcity_status, $created_at, $updated_at)
