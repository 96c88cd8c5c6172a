"""docs/BENCHMARKS.md from one run's Results: issue 18's goals first, then the tables behind them
(bench/report_tables.py)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench import coldstart, gateway, litellm_proxy, machine, portkey, upstream
from devtools.write_units import ITEM_LIMIT, RATE

if TYPE_CHECKING:
    from bench.run import Phase, Results

PEERS = {"litellm": "LiteLLM", "portkey": "Portkey"}


# ---------------------------------------------------------------- lookups


def find(results: Results, target: str, latency: int, *, stream: bool, concurrency: int) -> Phase | None:
    for phase in results.phases:
        if (phase.target, phase.latency_ms, phase.stream, phase.result.concurrency) == (
            target,
            latency,
            stream,
            concurrency,
        ):
            return phase
    return None


def added_latency(
    results: Results, target: str, latency: int, *, stream: bool, concurrency: int, q: float
) -> float | None:
    phase = find(results, target, latency, stream=stream, concurrency=concurrency)
    direct = find(results, "direct", latency, stream=stream, concurrency=concurrency)
    if not phase or not direct or not phase.result.ok:
        return None
    return phase.result.latency_ms(q) - direct.result.latency_ms(q)


def ttft_overhead(results: Results, target: str, latency: int, *, concurrency: int, q: float) -> float | None:
    phase = find(results, target, latency, stream=True, concurrency=concurrency)
    direct = find(results, "direct", latency, stream=True, concurrency=concurrency)
    if not phase or not direct or not phase.result.ok:
        return None
    return phase.result.ttft_ms(q) - direct.result.ttft_ms(q)


def cpu_ms(results: Results, target: str, latency: int, *, stream: bool, concurrency: int) -> float | None:
    """CPU ms per request of the target's own process (the aggregator's counted apart)."""
    phase = find(results, target, latency, stream=stream, concurrency=concurrency)
    return phase.cpu_ms_per_request.get(target) if phase and phase.result.ok else None


# ---------------------------------------------------------------- goals


@dataclass(frozen=True)
class Goal:
    name: str
    limit: str
    measured: str
    met: bool | None  # None: not measured
    why: str = ""  # when missed: why, from this run's numbers


def _f(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def goals(results: Results) -> list[Goal]:
    rows: list[Goal] = []
    ttft = ttft_overhead(results, "gateway", 50, concurrency=1, q=50)
    own = cpu_ms(results, "gateway", 50, stream=True, concurrency=1)
    rows.append(
        Goal(
            "Streaming TTFT overhead, 50 ms upstream, c=1, p50: within 1 ms of the gateway's own CPU time per request",
            f"<= {_f(own)} (gateway CPU ms per streamed request) + 1 = {_f(own + 1 if own is not None else None)} ms",
            f"{_f(ttft)} ms",
            (ttft <= own + 1) if ttft is not None and own is not None else None,
            "the first token waits for work besides the gateway's CPU: see the TTFT table" if ttft else "",
        )
    )
    ours = added_latency(results, "gateway", 0, stream=False, concurrency=1, q=50)
    lite = added_latency(results, "litellm", 0, stream=False, concurrency=1, q=50)
    rows.append(
        Goal(
            "Added latency, buffered, 0 ms upstream, c=1, p50: below LiteLLM's",
            f"< {_f(lite)} ms (LiteLLM)" if lite is not None else "LiteLLM not measured",
            f"{_f(ours)} ms",
            (ours < lite) if ours is not None and lite is not None else None,
            "the hold is a DynamoDB Local round trip on the request's path (the settlement comes after the answer), "
            "and the gateway's CPU time is on it too",
        )
    )
    for stream in (False, True):
        mode = "streamed" if stream else "buffered"
        mine = cpu_ms(results, "gateway", 0, stream=stream, concurrency=10)
        theirs = cpu_ms(results, "portkey", 0, stream=stream, concurrency=10)
        bare = cpu_ms(results, "floor", 0, stream=stream, concurrency=10)
        rows.append(
            Goal(
                f"Gateway process CPU per {mode} request (0 ms upstream, c=10), auth and both writes included: "
                "at or below Portkey's",
                f"<= {_f(theirs)} ms (Portkey)" if theirs is not None else "Portkey not measured",
                f"{_f(mine)} ms",
                (mine <= theirs) if mine is not None and theirs is not None else None,
                f"a request makes three round trips (hold, upstream, settlement) where Portkey makes one: the floor, "
                f"FastAPI making just those three calls with none of the gateway's logic, costs {_f(bare)} ms; the "
                "rest is the gateway's own work in Python (auth, pricing and routing, the ledger entry, metrics; "
                "see the profile)",
            )
        )
    for cold in results.coldstarts:
        if cold.name in coldstart.BUFFERED:
            rows.append(
                Goal(
                    f"Cold start of `{cold.name}` (fresh process: import + first request)",
                    "< 250 ms",
                    f"{cold.total_ms:.0f} ms" if not cold.error else f"failed: {cold.error}",
                    (cold.total_ms < 250) if not cold.error else False,
                    "see the cold start section",
                )
            )
    if results.writes is not None:
        per = results.writes.per_request
        rows.append(
            Goal(
                "Write units per chat request (AWS's, the aggregator's amortized)",
                "<= 8",
                f"{per.total:.2f}",
                per.total <= 8,
                "the largest: "
                + ", ".join(
                    f"{name} {units:.2f}" for name, units in sorted(per.units.items(), key=lambda kv: -kv[1])[:3]
                ),
            )
        )
        worst, rate = max(per.rates().items(), key=lambda kv: kv[1])
        rows.append(
            Goal(
                f"Busiest item or index partition at {RATE:,} requests/s of one account through one key",
                f"<= {ITEM_LIMIT:,} write units/s",
                f"{rate:,.0f} ({worst})",
                rate <= ITEM_LIMIT,
            )
        )
    return rows


# ---------------------------------------------------------------- rendering


def render(results: Results) -> str:
    from bench import report_tables as tables

    out: list[str] = []
    add = out.append
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(results.started))
    add("# Benchmarks\n")
    add(
        f"Written by `make bench` (`python -m bench.run`) from one run on {when}, which took "
        f"{results.wall_s / 60:.1f} minutes. Every number below comes from that run; rerun `make bench` to "
        "regenerate this file (logs: `.local/bench/logs/`). All traffic stayed on 127.0.0.1.\n"
    )
    add(
        f"The machine's 1-minute load average was {results.load_before} when the run started"
        + (
            f" (after waiting {results.waited_s / 60:.1f} minutes for it to drop below {machine.QUIET_LOAD})"
            if results.waited_s
            else f" (below {machine.QUIET_LOAD}: the bench waits for that, up to {machine.WAIT_SECONDS // 60} minutes)"
        )
        + f" and {results.load_after} at its end; CPU steal over the run {results.steal_percent:.1f}%. "
        "Other work shared the 2 cores during the run whenever the load average is above 1: the latencies "
        "carry that noise, the CPU time per request much less.\n"
    )
    _goals(out, results)
    _setup(out, results)
    tables.latency(out, results)
    tables.ttft(out, results)
    tables.cpu_and_memory(out, results)
    tables.roundtrips(out, results)
    tables.profile(out, results)
    tables.coldstarts(out, results)
    tables.writes(out, results)
    tables.cost(out, results)
    tables.sizes(out, results)
    return "\n".join(out).rstrip() + "\n"


def _goals(out: list[str], results: Results) -> None:
    add = out.append
    add("## Issue 18's goals\n")
    add("| goal | limit | measured | result |")
    add("|---|---|---|---|")
    rows = goals(results)
    for row in rows:
        result = {True: "**met**", False: "**missed**", None: "not measured"}[row.met]
        add(f"| {row.name} | {row.limit} | {row.measured} | {result} |")
    add("")
    missed = [row for row in rows if row.met is False]
    if missed:
        add("Missed in this run, and why:\n")
        for row in missed:
            add(f"- {row.name}: {row.measured} against {row.limit}; {row.why}.")
        add("")
    for peer, reason in results.errors.items():
        add(f"**{PEERS.get(peer, peer)} was not measured**: {reason}. Its cells say n/a; nothing is guessed.\n")
    add(
        "The gateway under test is served as the template deploys the chat function (`functions/chat/run.sh`, "
        "ChatFunction's environment from template.yaml: metrics on, its log level, no access log); `gateway "
        "(make dev)` is the same code as `make dev` serves it. Added latency = a percentile of the target's latency "
        "minus the same percentile calling the fake upstream directly, same client, body and concurrency; TTFT "
        "overhead likewise for the first body bytes of a stream. CPU per request = user + system time (from "
        "/proc) of the process over the phase, divided by the requests it completed.\n"
    )


def _setup(out: list[str], results: Results) -> None:
    from bench.run import BODY, PHASE_SECONDS, PLAN, WARMUP

    add = out.append
    add("## Machine, versions and setup\n")
    add("| | |")
    add("|---|---|")
    for name, value in results.machine.items():
        add(f"| {name} | {value} |")
    add("")
    add("Gateway packages (`.venv`): " + ", ".join(f"{k} {v}" for k, v in results.versions.items()) + ".\n")
    lite, port = results.litellm_install, results.portkey_install
    if lite and lite.ok:
        add(
            "LiteLLM (`.local/bench/litellm-venv`, `pip install 'litellm[proxy]'`): "
            + ", ".join(f"{k} {v}" for k, v in lite.packages.items())
            + ".\n"
        )
    if port and port.ok:
        add("Portkey (`.local/bench/portkey`): " + ", ".join(f"{k} {v}" for k, v in port.packages.items()) + ".\n")
    add("What ran, each in its own process, all on 127.0.0.1:\n")
    add(
        f"- **Fake upstream** (`bench/upstream.py`): raw asyncio HTTP/1.1 with keep-alive; answers "
        f"`POST /v1/chat/completions` after a fixed latency (0 ms, then 50 ms, before the first byte), with "
        f"`usage`; streams {upstream.CHUNKS} content chunks + finish + usage chunk + `[DONE]`."
    )
    add("- **DynamoDB Local** (`-inMemory`), tables from template.yaml, its stream on (NEW_IMAGE).")
    add(
        "- **gateway**: `functions/chat/run.sh` (uvicorn with uvloop and httptools, `--no-access-log`) with "
        "ChatFunction's environment resolved from template.yaml (`POWERTOOLS_METRICS_NAMESPACE` set, metrics on, "
        "`POWERTOOLS_LOG_LEVEL` as the template sets it), the CommonLayer's source as `/opt/python`, the tables and "
        "upstream of the bench; only the Lambda Web Adapter in front is missing (and with it the Extensions API: "
        "off Lambda, as in Lambda once the chat function's extension has registered, a buffered answer's settlement "
        "is written right after the answer, by the same process: gateway/afterwards.py). Beside it the **aggregator** "
        "(`bench/serve_aggregator.py`: AggregatorFunction's code fed by DynamoDB Local's stream, batches of up to "
        "1,000 records or 1 s as the event source mapping sends them)."
    )
    add(
        "- **gateway (make dev)**: `devtools.devserver.build_app()` under uvicorn, access log on, metrics off, "
        "`POWERTOOLS_LOG_LEVEL=INFO` (`make dev` runs the aggregator in a thread; here the one aggregator process "
        "adds both gateways' usage, so its CPU is counted once, in its own column)."
    )
    shards = results.writes.per_request.shards if results.writes else "its"
    add(
        f"- One account with {gateway.CREDITS} credits ({shards} balance shards) and one inference key, written "
        "by the gateway's own services: every request authenticates (cached key), holds credits on a balance "
        "shard, calls the upstream, and settles (shard + ledger entry; a buffered answer goes out first)."
    )
    add(
        "- **floor** (`bench/floor.py`): FastAPI under uvicorn as run.sh serves the gateway, making per request "
        "only the gateway's three calls on the gateway's own wires: a signed conditional UpdateItem (the hold) and "
        "a signed two-item TransactWriteItems (the balance and a small ledger entry) over the DynamoDB client's "
        "pool (`storage/loop_wire.py`) in a table of its own, the upstream call over aiohttp (a stream relayed "
        "as it arrives); no auth, pricing, routing, validation, metrics or trace. What the "
        "stack and the round trips cost; the gateway's CPU above it is its own work."
    )
    add("- **LiteLLM proxy**: " + "; ".join(litellm_proxy.DESCRIPTION) + ".")
    add("- **Portkey gateway**: " + "; ".join(portkey.DESCRIPTION) + ".")
    add(
        "- **Load generator** (`bench/loadgen.py`, in the bench process): a closed loop of `c` workers, each on "
        "its own keep-alive connection, raw asyncio HTTP/1.1. Latency = request written -> last byte read; "
        "TTFT = request written -> first body bytes."
    )
    add("")
    starts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in results.startup_s.items())
    add(f"Start-up to a listening port: {starts}.\n")
    add(f'- Request body: `{json.dumps(BODY)}`; streams add `"stream": true, "stream_options": {{...}}`.')
    for latency, plan in PLAN.items():
        add(
            f"- Upstream {latency} ms: "
            + ", ".join(f"{n} requests at c={c}" for c, n in plan)
            + " per target and mode."
        )
    add(f"- Each phase also stops after {PHASE_SECONDS:.0f} s (then fewer requests are reported).")
    add(
        f"- Warmup: {WARMUP[0]} buffered + {WARMUP[1]} streamed requests through each gateway (DynamoDB Local's "
        "JIT keeps speeding up for thousands of calls), 300 + 100 through each other target."
    )
    add("")
