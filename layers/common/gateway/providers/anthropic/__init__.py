"""Anthropic's Messages API as an upstream (api.anthropic.com/v1/messages)."""
