"""Local development: DynamoDB Local, tables from template.yaml, and the one-process dev server."""
