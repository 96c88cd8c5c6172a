"""DynamoDB repositories, built in one place (`stores`). The table layout lives in `layout`; nothing
else builds keys."""
