DROP TABLE IF EXISTS scan_tally;
DROP TABLE IF EXISTS scan_rejected;
