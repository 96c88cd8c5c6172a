"""Gemini's built-in tools and the fields only Gemini honours, as the gateway serves them. Pure.

- Google Search grounding (`googleSearch`) is priced per grounded answer (the catalog's
  `grounding`): held once per request, charged when the answer reports grounding metadata.
- Code execution (`codeExecution`) costs tokens only, but its code and results are read back as
  input for up to CODE_EXECUTION_ROUNDS rounds, each of which the hold allows a context window.
- Both go to Gemini upstreams as sent, as do stricter safety thresholds and media only Gemini reads
  (video, audio of other types, public file URLs); no other upstream can take them.
- Every other built-in tool (URL context, Maps, file search, computer use, ...) is refused: the
  gateway has no price for it.
- `cachedContent` and Files API URIs are refused: they name content kept at Google under the
  gateway's own key (the gateway serves neither caches nor files, so no client made them, and a
  cache is billed by the hour to whoever holds it), which no client may read through the gateway.
"""

from __future__ import annotations

from typing import Any

from gateway.canonical import ServerTools
from gateway.dialects.gemini import camel, field
from gateway.errors import InvalidRequest

CODE_EXECUTION_ROUNDS = 5  # Gemini runs generated code and reads its output back at most this often
CACHED_CONTENT = (
    "`cachedContent` names a cache kept at Google under this gateway's key, which no client made through it "
    "(caches are not served here) and which is billed by the hour: send the content itself."
)
FILES_API = (
    "Files API URIs name files kept at Google under this gateway's key (files are not served here): send the "
    "data inline, or a public URL."
)


def built_in_tools(body: dict[str, Any]) -> tuple[ServerTools, list[tuple[str, str]]]:
    """The rounds and fees Gemini's built-in tools can add, and the tools only Gemini takes as
    (param, reason). Raises the 400 for tools that cannot be priced."""
    grounded = False
    rounds = 0
    params: list[tuple[str, str]] = []
    own: list[tuple[str, str]] = []
    for i, tool in enumerate(field(body, "tools") or []):
        for key in tool if isinstance(tool, dict) else {}:
            name, where = camel(key), f"tools[{i}].{key}"
            if name == "functionDeclarations":
                continue
            if name == "googleSearch":
                grounded, rounds = True, rounds + 1
                params.append(("grounding", where))
                own.append((where, "Google Search grounding runs at Google"))
            elif name == "codeExecution":
                rounds += CODE_EXECUTION_ROUNDS
                own.append((where, "Code execution runs at Google"))
            else:
                raise InvalidRequest(f"The `{key}` tool cannot be priced by this gateway.", param=where)
    return ServerTools(grounded=grounded, rounds=rounds, params=tuple(params)), own
