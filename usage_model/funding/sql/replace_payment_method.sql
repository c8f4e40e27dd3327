INSERT OR REPLACE INTO payment_methods (provider, configured, exposed, mode, webhook_configured,
                                        custom_api_base, checkout, currencies_configured,
                                        updated_at)
VALUES ($provider, $configured, $exposed, $mode, $webhook_configured, $custom_api_base,
        $checkout, $currencies_configured, now())
