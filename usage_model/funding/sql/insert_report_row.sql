INSERT INTO reconciliation_report (
    report_key, row_kind, topup_id, user_id, downcity_status, downcity_amount, stripe_state,
    stripe_amount, ledger_credits, ledger_state, verdict, detail, stale_pending, user_balance,
    built_at, credits_at_stake, evidence, stripe_payment, downcity_payment_id,
    downcity_payment_status, credited_by, credited_at, wallet_mode)
VALUES (
    $report_key, $row_kind, $topup_id, $user_id, $downcity_status, $downcity_amount,
    $stripe_state, $stripe_amount, $ledger_credits, $ledger_state, $verdict, $detail,
    $stale_pending, $user_balance, $built_at, $credits_at_stake, $evidence, $stripe_payment,
    $downcity_payment_id, $downcity_payment_status, $credited_by, $credited_at, $wallet_mode)
