"""The `/api/v1` envelope. The credits platform, whose base URL `/api/v1` is, answers every error there
as `{"error": {"message", "type", "code"}}` with `type` equal to `code`, and names an unknown model
`model_not_available`; the gateway's other `/api/v1` routes (ARouter's keys, poeti's keys, usage and
traces) answer the same. `param` and the HTTP `status` ride along, as in every OpenAI-shaped body.
Answers and streams are OpenAI's (`/api/v1/chat/completions` is an OpenAI exchange, so an OpenAI
upstream gets its body untouched; an error event inside a started stream is OpenAI's)."""

from __future__ import annotations

from gateway.canonical import Body
from gateway.errors import GatewayError
from gateway.formats.inbound import InboundFormat
from gateway.formats.openai_answers import FORMAT as OPENAI

CODES = {"model_not_found": "model_not_available"}


def code_of(error: GatewayError) -> str:
    return CODES.get(error.code, error.code)


def _error_body(error: GatewayError) -> Body:
    body = OPENAI.error_body(error)
    code = code_of(error)
    return {"error": {**body["error"], "type": code, "code": code}}


FORMAT = InboundFormat("api_v1", OPENAI.respond, OPENAI.encoder, _error_body, OPENAI.capped, OPENAI.priced)
