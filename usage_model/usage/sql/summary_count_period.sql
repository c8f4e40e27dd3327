SELECT count(*) FROM {{table}} WHERE period = $period
