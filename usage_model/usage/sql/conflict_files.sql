SELECT DISTINCT source_file FROM classified WHERE outcome = 'conflict'
