SELECT mode FROM funding_mode
