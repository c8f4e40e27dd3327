SELECT DISTINCT source_file FROM copy_outcomes WHERE outcome = 'conflict'
