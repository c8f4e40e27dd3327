INSERT INTO funding_mode (mode, reason, downcity_ledger_entries, decided_at)
VALUES ($mode, $reason, $downcity_ledger_entries, $decided_at)
