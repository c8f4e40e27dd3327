-- Events of a version with a final outcome (not sent again).
SELECT identifier, status FROM export_meter_events
WHERE export = $export AND period = $period AND version = $version AND status <> 'pending'
