"""The tools of an Anthropic Messages request that Anthropic defines itself, and the request fields
only Anthropic honours, as the gateway serves them. Pure.

- Web search and web fetch (`web_search_*`, `web_fetch_*`) run at Anthropic, a fee per use (the
  catalog's `web_search` / `web_fetch`) and their results read as input: served when `max_uses`
  bounds them, held for every use it allows and charged for the uses reported.
- Code execution (`code_execution_*`), `container` and `mcp_servers` are refused: Anthropic bills
  code execution by container time, which no answer reports, and nothing in a request bounds how
  often the MCP connector calls its servers (each call read as input), so neither can be held for.
- Tools Anthropic defines but the client runs (bash, text editor, computer use, memory) and its tool
  search cost tokens only: they go to Anthropic upstreams, never into another vendor's format.
- `context_management` goes to Anthropic upstreams with its clearing edits (`clear_tool_uses_*`,
  `clear_thinking_*`: they only leave input out); for others, only edits that change nothing
  (`clear_thinking` keeping all thinking, which Claude Code sends) are dropped. Compaction
  (`compact_*`) and edits of other types are refused: a compaction is a sampling step of its own,
  whose tokens Anthropic bills apart from the answer's usage and no request field bounds.
- What Anthropic keeps for the operator's organization, shared by every account, is refused:
  message threads (`thread`), cache diagnostics against an earlier message (`diagnostics`) and the
  resumption of a cut response (`resumption`): each reads (and bills) input the request does not
  show, and names state another account may have made. So are Anthropic's own `fallbacks`, each of
  which may set its own `max_tokens`, `thinking`, `output_config` and `speed`.
"""

from __future__ import annotations

from typing import Any

from gateway.canonical import ServerTools
from gateway.errors import InvalidRequest

MAX_USES = 100  # the most server-tool uses one request may allow
REFUSED_FIELDS = {
    "container": "Containers run code execution, which this gateway cannot price (its container time is not "
    "reported per request).",
    "mcp_servers": "The MCP connector is not served by this gateway: nothing bounds how often it calls its "
    "servers, so its cost cannot be held.",
    # Claude Code resends the turn whole, without a thread, after a 400 naming "`thread` field"
    "thread": "The `thread` field (message threads) is not served by this gateway: a continuation is billed "
    "for the conversation Anthropic keeps, which the request does not show; send the conversation whole.",
    "diagnostics": "The `diagnostics` field (cache diagnostics) is not served by this gateway: it compares the "
    "request with an earlier message kept for the gateway's organization, which another account may have made.",
    "resumption": "The `resumption` field is not served by this gateway: it resumes a response Anthropic keeps, "
    "for input the request does not show.",
    "fallbacks": "Anthropic's `fallbacks` are not served by this gateway: each may set its own `max_tokens`, "
    "`thinking`, `output_config` or `speed`, beyond what the request was held for.",
}
CLEARING_EDITS = ("clear_tool_uses_", "clear_thinking_")  # they leave input out, and cost nothing of their own
PRICED = {"web_search_": "web_search", "web_fetch_": "web_fetch"}  # tool type prefix -> catalog price
CLIENT_RUN = ("bash_", "text_editor_", "computer_", "memory_", "tool_search_tool_")
REFUSED_TOOLS = {
    "code_execution_": "Code execution is billed by container time, which Anthropic does not report per "
    "request; this gateway cannot price it.",
}


def server_tools(tools: Any) -> tuple[ServerTools, list[tuple[str, str]]]:
    """The uses the request allows Anthropic's server tools, and the tools only Anthropic takes as
    (param, reason). Raises the 400 for what cannot be served."""
    searches = fetches = 0
    params: list[tuple[str, str]] = []
    own: list[tuple[str, str]] = []
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        kind = str(tool.get("type") or "custom") if isinstance(tool, dict) else "custom"
        where = f"tools[{i}]"
        if kind == "custom":
            continue
        refused = next((reason for prefix, reason in REFUSED_TOOLS.items() if kind.startswith(prefix)), None)
        priced = next((price for prefix, price in PRICED.items() if kind.startswith(prefix)), None)
        if refused is not None:
            raise InvalidRequest(refused, param=where)
        if priced is not None:
            uses = _max_uses(tool, where)
            searches += uses if priced == "web_search" else 0
            fetches += uses if priced == "web_fetch" else 0
            params.append((priced, where))
            own.append((where, f"The {kind} tool runs at Anthropic"))
        elif kind.startswith(CLIENT_RUN):
            own.append((where, f"The {kind} tool is Anthropic's own"))
        else:
            raise InvalidRequest(f"Tools of type {kind!r} cannot be priced by this gateway.", param=where)
    uses = searches + fetches
    return ServerTools(web_searches=searches, web_fetches=fetches, rounds=uses, params=tuple(params)), own


def _max_uses(tool: dict[str, Any], where: str) -> int:
    uses = tool.get("max_uses")
    if not isinstance(uses, int) or isinstance(uses, bool) or not 1 <= uses <= MAX_USES:
        raise InvalidRequest(
            f"A server tool needs `max_uses` (1 to {MAX_USES}) for its cost to be held.", param=f"{where}.max_uses"
        )
    content_tokens = tool.get("max_content_tokens")
    if content_tokens is not None and (
        not isinstance(content_tokens, int) or isinstance(content_tokens, bool) or not 1 <= content_tokens <= 10**7
    ):
        raise InvalidRequest(
            "`max_content_tokens` must be a whole number of tokens.", param=f"{where}.max_content_tokens"
        )
    return uses


def check_edits(context_management: Any) -> None:
    """The 400 of an edit other than a clearing one (a compaction, or a type this gateway does not know)."""
    edits = context_management.get("edits") if isinstance(context_management, dict) else None
    for i, edit in enumerate(edits if isinstance(edits, list) else []):
        kind = str(edit.get("type", "")) if isinstance(edit, dict) else ""
        if kind.startswith(CLEARING_EDITS):
            continue
        reason = (
            "Compaction is not served by this gateway: its summary is a sampling step of its own, billed apart "
            "from the answer's usage, which the request cannot bound."
            if kind.startswith("compact_")
            else f"Context management edits of type {kind!r} cannot be priced by this gateway."
        )
        raise InvalidRequest(reason, param=f"context_management.edits[{i}]")


def changes_nothing(context_management: Any) -> bool:
    """Edits that leave the conversation as it is: clearing thinking while keeping all of it."""
    edits = context_management.get("edits") if isinstance(context_management, dict) else None
    if not isinstance(edits, list) or set(context_management) - {"edits"}:
        return False
    return all(
        isinstance(edit, dict)
        and str(edit.get("type", "")).startswith("clear_thinking_")
        and edit.get("keep") == "all"
        and set(edit) <= {"type", "keep"}
        for edit in edits
    )
