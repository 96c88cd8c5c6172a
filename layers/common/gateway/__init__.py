"""Serverless AI gateway: shared code of every function (the CommonLayer)."""
