SELECT DISTINCT day FROM index_other_copies
