"""Canonical answers as Responses API answers, for clients of `/v1/responses`: a whole response, its
stream of typed events (`responses_stream`), and OpenAI's error envelope. An OpenAI upstream's own
responses pass through, made the gateway's: its id, what it was asked to store and which response it
continues, and `usage.cost`, what the ledger charged, in credits. Pure."""

from __future__ import annotations

from typing import Any

from gateway.canonical import Body, ChatCompletion, usage_from
from gateway.dialects.gemini import call_signature
from gateway.errors import GatewayError
from gateway.formats.inbound import Encoder, Exchange, InboundFormat
from gateway.formats.responses import ResponseContext
from gateway.formats.responses_objects import (
    INCOMPLETE,
    call_item,
    message_item,
    new_id,
    own,
    reasoning_item,
    reasoning_tokens,
    response_object,
    usage_object,
)
from gateway.formats.responses_stream import ResponsesEncoder
from gateway.formats.responses_thinking import signature_block
from gateway.money import display


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def from_openai_response(payload: ChatCompletion, exchange: Exchange) -> Body:
    """A response from a canonical chat.completion (its first choice)."""
    context: ResponseContext = exchange.context
    choices: list[Any] = list(payload.get("choices") or [])
    choice = _obj(choices[0] if choices else None)
    message = _obj(choice.get("message"))
    calls = [_obj(call) for call in message.get("tool_calls") or []]
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    blocks = [block for block in message.get("thinking_blocks") or [] if isinstance(block, dict)]
    blocks += [signature_block(str(call.get("id")), sig) for call in calls if (sig := call_signature(call))]
    if (isinstance(reasoning, str) and reasoning) or blocks:
        output.append(reasoning_item(new_id("rs"), reasoning if isinstance(reasoning, str) else "", blocks))
    text = message.get("content") or message.get("refusal")
    if isinstance(text, str) and text:
        output.append(message_item(new_id("msg"), text))
    for call in calls:
        function = _obj(call.get("function"))
        output.append(
            call_item(new_id("fc"), call.get("id"), function.get("name"), str(function.get("arguments") or ""))
        )
    incomplete = INCOMPLETE.get(str(choice.get("finish_reason")))
    usage = usage_object(usage_from(payload), reasoning_tokens(payload.get("usage")))
    status = "incomplete" if incomplete else "completed"
    return response_object(context, exchange.model, status, output, usage, incomplete)


def _priced(answer: Body, cost: int, exchange: Exchange) -> Body:
    """The whole answer as the gateway's (an OpenAI upstream's own included), with its cost."""
    context: ResponseContext = exchange.context
    response = own(answer, context)
    response["usage"] = {**_obj(response.get("usage")), "cost": display(cost)}
    if response.get("status") in ("completed", "incomplete"):
        context.final = response
    return response


def _encoder(exchange: Exchange) -> Encoder:
    return ResponsesEncoder(exchange)


def _error_body(error: GatewayError) -> Body:
    return error.openai_body()


def _capped(body: Body, tokens: int) -> Body:
    return {**body, "max_output_tokens": tokens}


FORMAT = InboundFormat("responses", from_openai_response, _encoder, _error_body, _capped, _priced)
