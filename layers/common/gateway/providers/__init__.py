"""Upstream providers: one package per wire format, pure `transform` apart from network `client`."""
