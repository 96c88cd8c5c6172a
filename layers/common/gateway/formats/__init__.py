"""Wire schemas of the API formats the gateway speaks."""
