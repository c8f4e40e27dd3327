UPDATE export_ledger SET status = 'delivered', attempts = attempts + 1, detail = $detail,
    delivered_at = $delivered_at
WHERE export = $export AND period = $period AND version = $version
