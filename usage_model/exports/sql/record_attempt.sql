UPDATE export_ledger SET attempts = attempts + 1, detail = $detail
WHERE export = $export AND period = $period AND version = $version
