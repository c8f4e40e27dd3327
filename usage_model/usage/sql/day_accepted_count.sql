SELECT count(*) FROM build_rows WHERE outcome = 'accepted' AND day = $day
