"""The coding agents through the gateway, as a new user runs them: the real CLIs (Claude Code, Codex
CLI, Gemini CLI), pinned in devtools/agents/package-lock.json and installed by `make agents`, complete a
prompt against the gateway served as `make dev` serves it, offline, with fake upstreams on loopback
speaking each vendor's wire protocol. Every request they make is streamed and charged exactly the
catalog price of the usage its upstream reported; the balance falls by the sum and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support import agents
from tests.support.pricing import price_micro

GRANT = 10_000_000
PINNED = {"claude": "2.1.328", "codex": "0.169.0", "gemini": "0.61.0"}


def charged_exactly(gateway_url: str, tenant: Any, usages: list[tuple[int, int]], endpoint: str) -> list[dict]:  # type: ignore[type-arg]
    """Each request of the run was streamed and charged the price of the usage its upstream reported
    (in the order the upstream answered), and the balance fell by exactly their sum."""
    traces = agents.traces(gateway_url, tenant.key)
    entries = [ledger_entry(trace["trace_id"]) for trace in traces]
    assert len(entries) == len(usages) >= 1
    for entry, (prompt, completion) in zip(entries, usages, strict=True):
        assert entry is not None
        assert (entry["status"], entry["endpoint"], entry["stream"]) == ("success", endpoint, True)
        assert entry["usage_estimated"] is False
        assert (entry["prompt_tokens"], entry["completion_tokens"]) == (prompt, completion)
        assert entry["credits"] == price_micro(prompt, completion)
    assert balance_of(tenant.account_id) == GRANT - sum(entry["credits"] for entry in entries)  # type: ignore[index]
    return entries  # type: ignore[return-value]


def anthropic_usages(fake: Any) -> list[tuple[int, int]]:
    return [(usage["input_tokens"], usage["output_tokens"]) for usage in fake.usages]


def openai_usages(fake: Any) -> list[tuple[int, int]]:
    return [
        (
            usage.get("prompt_tokens", usage.get("input_tokens")),
            usage.get("completion_tokens", usage.get("output_tokens")),
        )
        for usage in fake.usages
    ]


def gemini_usages(fake: Any) -> list[tuple[int, int]]:
    return [(usage["promptTokenCount"], usage["candidatesTokenCount"]) for usage in fake.usages]


@pytest.mark.parametrize("cli", sorted(PINNED))
def test_the_pinned_versions_are_installed(cli: str) -> None:
    shown = agents.run(cli, ["--version"], {}, agents.new_home())
    assert shown.returncode == 0, shown.output
    assert PINNED[cli] in shown.stdout


# --------------------------------------------------------------- Claude Code


def test_claude_code_completes_a_prompt_with_a_claude_model(gateway_url, upstream, fake_servers, make_tenant):
    # Given an account with 10 credits and Claude Code pointed at the gateway with its key
    tenant = make_tenant("10")
    fake = fake_servers["anthropic"]
    # When it completes a prompt with a Claude model (an Anthropic upstream)
    run = agents.claude_code(gateway_url, tenant.key, "claude-opus-5-5", "Say hi")
    # Then it prints the model's answer
    assert run.returncode == 0, run.output
    assert "Hi from the fake Claude." in run.stdout
    # And its requests reached Anthropic as it sent them: context management, its betas, its thinking,
    # with the output cap the hold priced
    sent = fake.requests[-1]
    assert sent["context_management"] == {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    assert sent["max_tokens"] == 1000  # the test model's cap; Claude Code asks for more
    assert "context-management-2025-06-27" in fake.headers[-1]["anthropic-beta"]
    assert [message["role"] for message in sent["messages"]] == ["user", "system"]  # a mid-conversation system turn
    assert sent["output_config"] == {"effort": sent["messages"][1]["output_config"]["effort"]}
    # And each was streamed and charged exactly its usage, the end user kept on its trace
    entries = charged_exactly(gateway_url, tenant, anthropic_usages(fake), "messages")
    assert all("session_id" in json.loads(entry["user"]) for entry in entries)


def test_claude_code_completes_a_prompt_with_models_of_other_vendors(gateway_url, upstream, fake_servers, make_tenant):
    # Given Claude Code pointed at models served by OpenAI-compatible and Gemini upstreams
    for model, fake, usages, text in (
        ("claude-opus-5", upstream, openai_usages, "Hi from the fake OpenAI."),
        ("claude-sonnet-5", fake_servers["gemini"], gemini_usages, "Hi from the fake Gemini."),
    ):
        tenant = make_tenant("10")
        # When it completes a prompt: its mid-conversation system turns, tools (deferred ones too),
        # adaptive thinking, effort and no-op context management are translated
        run = agents.claude_code(gateway_url, tenant.key, model, "Say hi")
        # Then it prints that model's answer, each request charged exactly its usage
        assert run.returncode == 0, run.output
        assert text in run.stdout
        if fake is upstream:  # its system turn stays where it was, after the system prompt and the user's
            assert [message["role"] for message in upstream.requests[-1]["messages"]] == ["system", "user", "system"]
        charged_exactly(gateway_url, tenant, usages(fake), "messages")
        fake.reset()


# --------------------------------------------------------------- Codex CLI


def test_codex_completes_a_prompt_through_the_responses_api(gateway_url, upstream, make_tenant):
    # Given Codex with the gateway as a model provider whose wire_api is "responses"
    tenant = make_tenant("10")
    # When it completes a prompt with an OpenAI model
    run = agents.codex(gateway_url, tenant.key, "gpt-5-codex", "Say hi")
    # Then it prints the model's answer
    assert run.returncode == 0, run.output
    assert "Hi from the fake OpenAI." in run.stdout
    # And its request reached OpenAI's Responses API as it sent it (its tools, its encrypted reasoning),
    # keeping nothing upstream, with the output cap and the web search calls the hold priced
    sent = upstream.requests[-1]
    assert sent["store"] is False
    assert "reasoning.encrypted_content" in sent["include"]
    assert {tool["type"] for tool in sent["tools"]} >= {"function", "web_search"}
    assert (sent["max_output_tokens"], sent["max_tool_calls"]) == (1000, 8)
    # And it was streamed and charged exactly its usage
    charged_exactly(gateway_url, tenant, openai_usages(upstream), "responses")


def test_codex_with_a_model_that_cannot_take_its_tools_is_told_which(gateway_url, upstream, make_tenant):
    # Given Codex pointed at a Claude model: its namespaced and hosted tools are OpenAI's own
    tenant = make_tenant("10")
    run = agents.codex(gateway_url, tenant.key, "claude-sonnet-4-5", "Say hi")
    # Then it fails with the gateway's 400 naming the tool, and nothing is charged
    assert run.returncode != 0
    assert '"param":"tools[' in run.output.replace(" ", "")
    assert "OpenAI's own" in run.output
    assert balance_of(tenant.account_id) == GRANT


# --------------------------------------------------------------- Gemini CLI


def test_gemini_cli_completes_a_prompt_with_a_gemini_model(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    fake = fake_servers["gemini"]
    run = agents.gemini_cli(gateway_url, tenant.key, "gemini-2.5-pro", "Say hi")
    assert run.returncode == 0, run.output
    assert "Hi from the fake Gemini." in run.stdout
    target, sent = fake.requests[-1]
    assert target == "gemini-agent:streamGenerateContent"
    assert sent["generationConfig"]["maxOutputTokens"] == 1000
    charged_exactly(gateway_url, tenant, gemini_usages(fake), "streamGenerateContent")


def test_gemini_cli_completes_a_prompt_with_a_claude_model(gateway_url, upstream, fake_servers, make_tenant):
    tenant = make_tenant("10")
    fake = fake_servers["anthropic"]
    run = agents.gemini_cli(gateway_url, tenant.key, "claude-sonnet-4-5", "Say hi")
    assert run.returncode == 0, run.output
    assert "Hi from the fake Claude." in run.stdout
    charged_exactly(gateway_url, tenant, anthropic_usages(fake), "streamGenerateContent")
