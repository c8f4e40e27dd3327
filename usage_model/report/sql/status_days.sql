SELECT min(day), max(day), count(*), coalesce(sum(accepted), 0),
       coalesce(sum(identical_duplicates), 0)
FROM usage_day_loads
