-- A landed export file, registered as the Arrow table `landed_file` (downcity._read_rows).
SELECT * FROM landed_file
