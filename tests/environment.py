"""The variables that point city-usage somewhere: every test process starts with them unset
(tests/conftest.py) or set to its own temporary folders."""

CONFIG_VARS = (
    "CITY_USAGE_DATA_DIR",
    "CITY_USAGE_LANDING",
    "CITY_USAGE_WAREHOUSE",
    "CITY_USAGE_CURATED",
    "CITY_USAGE_EXPORTS",
    "CITY_USAGE_TIMEZONE",
    "CITY_USAGE_RECORD_ERRORS",
    "CITY_USAGE_CONFIG",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
)
