"""DynamoDB repositories. The table layout lives in `layout`; nothing else builds keys."""
