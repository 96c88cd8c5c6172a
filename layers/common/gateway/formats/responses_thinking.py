"""Another vendor's thinking carried through the Responses API as a reasoning item's
`encrypted_content`, so a client that sends its items back (Codex, `store: false`) gives the model its
thinking back: Anthropic's signed thinking blocks, and Gemini's thought signatures (each a block naming
the function call it was sent with, which Gemini 3 wants back on that call). OpenAI cannot read these
items; no other vendor can read OpenAI's."""

from __future__ import annotations

import base64
from typing import Any

from gateway.dialects.anthropic import CARRIED, blocks_carried, carried_blocks
from gateway.errors import InvalidRequest

GATEWAY_REASONING = CARRIED  # `encrypted_content` of reasoning the gateway encoded (another vendor's thinking)
SIGNATURE = "thought_signature"  # a carried block's type: a Gemini thoughtSignature and its call's id


def encoded_thinking(blocks: list[dict[str, Any]]) -> str:
    """Another vendor's signed thinking (Anthropic's) as a reasoning item's `encrypted_content`:
    the carrier's mark, then its JSON in URL-safe base64."""
    return GATEWAY_REASONING + base64.urlsafe_b64encode(carried_blocks(blocks)).decode()


def decoded_thinking(content: Any) -> list[dict[str, Any]]:
    """The thinking blocks a reasoning item of the gateway carries; OpenAI's own encrypted reasoning,
    which no other vendor can read, gives none. A damaged one of ours is the client's error."""
    if not isinstance(content, str) or not content.startswith(GATEWAY_REASONING):
        return []
    try:
        blocks = blocks_carried(base64.urlsafe_b64decode(content[len(GATEWAY_REASONING) :].encode()))
    except ValueError:
        blocks = None
    if blocks is None:
        raise InvalidRequest("a reasoning item's encrypted_content is damaged", param="input")
    return blocks


def signature_block(call_id: str, signature: str) -> dict[str, Any]:
    """A Gemini thoughtSignature as a carried block, with the id of the call it came on."""
    return {"type": SIGNATURE, "call_id": call_id, "signature": signature}


def split_signatures(blocks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Carried blocks as (Anthropic's thinking blocks, Gemini's signatures by call id)."""
    thinking: list[dict[str, Any]] = []
    signatures: dict[str, str] = {}
    for block in blocks:
        if block.get("type") != SIGNATURE:
            thinking.append(block)
        elif isinstance(block.get("call_id"), str) and isinstance(block.get("signature"), str) and block["signature"]:
            signatures[block["call_id"]] = block["signature"]
    return thinking, signatures
