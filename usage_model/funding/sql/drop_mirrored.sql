DELETE FROM balance_ledger WHERE source = 'downcity'
