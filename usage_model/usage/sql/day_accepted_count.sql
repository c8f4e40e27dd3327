SELECT count(*) FROM classified WHERE outcome = 'accepted' AND day = $day
