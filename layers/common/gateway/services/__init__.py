"""Use cases. Nothing here knows about Lambda, API Gateway or HTTP frameworks."""
