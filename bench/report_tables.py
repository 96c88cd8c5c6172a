"""The tables of docs/BENCHMARKS.md behind its goals (bench/report.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench import coldstart, roundtrip
from bench import cost as pricing
from bench.report import PEERS, _f, added_latency, cpu_ms, ttft_overhead
from devtools.write_units import ITEM_LIMIT, RATE, STREAM_SHARDS

if TYPE_CHECKING:
    from bench.run import Results

NAMES = {
    "gateway": "gateway",
    "gateway (make dev)": "gateway (make dev)",
    "floor": "floor (FastAPI + the 3 calls)",
    **PEERS,
    "direct": "direct",
}


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def latency(out: list[str], results: Results) -> None:
    add = out.append
    add("## Latency and throughput\n")
    for ms in sorted({p.latency_ms for p in results.phases}):
        add(f"### Upstream latency {ms} ms\n")
        add("| target | mode | c | ok / sent | errors | req/s | p50 ms | p95 ms | p99 ms | added p50 | added p95 |")
        add("|---|---|---|---|---|---|---|---|---|---|---|")
        for phase in results.phases:
            if phase.latency_ms != ms:
                continue
            r, c = phase.result, phase.result.concurrency
            added = ["" if phase.target == "direct" else _f(added_latency(
                results, phase.target, ms, stream=phase.stream, concurrency=c, q=q)) for q in (50, 95)]  # fmt: skip
            add(
                _row(
                    NAMES.get(phase.target, phase.target), "stream" if phase.stream else "buffered", c,
                    f"{r.ok} / {r.requests}", sum(r.errors.values()), f"{r.rps:.1f}", _f(r.latency_ms(50)),
                    _f(r.latency_ms(95)), _f(r.latency_ms(99)), *added,
                )
            )  # fmt: skip
        add("")
    errors = {
        f"{p.target} {p.latency_ms} ms {'stream' if p.stream else 'buffered'} c={p.result.concurrency}": p.result.errors
        for p in results.phases
        if p.result.errors
    }
    if errors:
        add("Errors seen: " + "; ".join(f"{k}: {v}" for k, v in errors.items()) + "\n")


def ttft(out: list[str], results: Results) -> None:
    add = out.append
    add("## Streaming: time to first token\n")
    add(
        "TTFT p50 and its overhead over calling the upstream directly, beside the process's own CPU time per "
        "streamed request in the same phase. With the upstream's first token 50 ms away, the gateway's "
        "speculative start (the upstream called while the hold is written) leaves only its own work before the "
        "first token.\n"
    )
    add("| target | upstream | c | TTFT p50 ms | TTFT p95 ms | overhead p50 ms | overhead p95 ms | own CPU ms/req |")
    add("|---|---|---|---|---|---|---|---|")
    for phase in results.phases:
        if not phase.stream:
            continue
        r, c, ms = phase.result, phase.result.concurrency, phase.latency_ms
        direct = phase.target == "direct"
        over = [None if direct else ttft_overhead(results, phase.target, ms, concurrency=c, q=q) for q in (50, 95)]
        own = None if direct else cpu_ms(results, phase.target, ms, stream=True, concurrency=c)
        add(
            _row(NAMES.get(phase.target, phase.target), f"{ms} ms", c, _f(r.ttft_ms(50)), _f(r.ttft_ms(95)),
                 "" if direct else _f(over[0]), "" if direct else _f(over[1]), "" if direct else _f(own))
        )  # fmt: skip
    add("")


def cpu_and_memory(out: list[str], results: Results) -> None:
    add = out.append
    add("## CPU per request of every process\n")
    add(
        "User + system CPU time (from /proc, children included) each process spent per completed request during "
        "each phase. Every process runs all the time, so each phase's row also shows what the idle ones cost (the "
        "aggregator polls the stream; the peers idle). The machine has 2 cores for all of them.\n"
    )
    names = sorted({name for p in results.phases for name in p.cpu_ms_per_request})
    add("| target | upstream | mode | c | " + " | ".join(names) + " |")
    add("|---|---|---|---|" + "---|" * len(names))
    for p in results.phases:
        cells = [_f(p.cpu_ms_per_request.get(n)) for n in names]
        add(_row(NAMES.get(p.target, p.target), f"{p.latency_ms} ms", "stream" if p.stream else "buffered",
                 p.result.concurrency, *cells))  # fmt: skip
    add("")
    add("Resident memory (MB): after start-up, and peak (VmHWM) over the run.\n")
    add("| process | after start-up | peak |")
    add("|---|---|---|")
    for name, values in results.rss_mb.items():
        add(f"| {NAMES.get(name, name)} | {_f(values.get('idle'), 1)} | {_f(values.get('peak'), 1)} |")
    add("")


def roundtrips(out: list[str], results: Results) -> None:
    add = out.append
    add("## One DynamoDB Local round trip\n")
    add(
        "From the bench process with the gateway's own client, after the warmup, on an account and key of their "
        f"own: a consistent GetItem, the key's read with its account's gate and shards ({roundtrip.SNAPSHOT}), "
        "and the hot path's two writes, the hold and the settlement, as the credit repository sends them.\n"
    )
    add("| call | samples | p50 ms | p95 ms | p99 ms |")
    add("|---|---|---|---|---|")
    for r in results.roundtrips:
        add(_row(r.name, r.samples, f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}", f"{r.p99_ms:.2f}"))
    add("")


def profile(out: list[str], results: Results) -> None:
    add = out.append
    prof = results.profile
    add("## Where the gateway's CPU goes (py-spy)\n")
    if prof is None or not prof.ok:
        add(f"Not profiled: {prof.reason if prof else 'not run'}.\n")
        return
    add(
        f"`py-spy record --gil` on the gateway (as the template deploys it) for {prof.seconds:.0f} s of buffered "
        f"requests at c=10: {prof.samples} samples of the thread holding the GIL. By step of the request (a sample "
        "counts for the first step found in its stack):\n"
    )
    add("| step | share |")
    add("|---|---|")
    for name, share in prof.by_step:
        add(f"| {name} | {share:.1f}% |")
    add("")
    add("By package of the innermost frame:\n")
    add("| package | share |")
    add("|---|---|")
    for name, share in prof.by_package:
        add(f"| {name} | {share:.1f}% |")
    add("")


def coldstarts(out: list[str], results: Results) -> None:
    add = out.append
    if not results.coldstarts:
        return
    add("## Cold start\n")
    add(
        "Each run: a fresh `python` process (the gateway's interpreter) with PYTHONPATH = a fresh copy of the "
        "gateway package compiled as the layer's Makefile compiles it (unchecked hash-based pycs; "
        "`PYTHONDONTWRITEBYTECODE=1`) and the function's `app.py`. *import* = executing `app.py`; *first request* "
        "= the first call through the real entry (`handler(event, context)` with an API Gateway REST event - an "
        "inference key's, an operator key's for `admin`, the page for `console` - a scheduled event for the "
        "sweeper, a stream batch of one ledger entry for the aggregator; the ASGI app for chat, images and audio, "
        "which run under uvicorn), against DynamoDB Local. Median of "
        f"{results.coldstarts[0].runs} runs. Lambda's own init and the interpreter's start-up are not in it "
        "(*process* is the whole `python -c` run, start-up included).\n"
    )
    add("| function | first request | import ms | first request ms | import + first | goal < 250 ms | process ms |")
    add("|---|---|---|---|---|---|---|")
    for cold in results.coldstarts:
        method, route = coldstart.FIRST_REQUEST[cold.name]
        request = {"sweeper": "scheduled event", "aggregator": "stream batch of 1"}.get(
            cold.name, f"`{method} {route}`"
        )
        if cold.error:
            add(_row(cold.name, request, f"failed: {cold.error}", "", "", "", ""))
            continue
        extra = f" (+ {cold.uvicorn_ms:.0f} uvicorn)" if cold.uvicorn_ms is not None else ""
        goal = ("yes" if cold.total_ms < 250 else "**no**") if cold.name in coldstart.BUFFERED else "(uvicorn; none)"
        add(_row(cold.name, f"{request} (HTTP {cold.status})", f"{cold.import_ms:.0f}{extra}", f"{cold.first_ms:.0f}",
                 f"{cold.total_ms:.0f}", goal, f"{cold.process_ms:.0f}"))  # fmt: skip
    add("")
    b = results.cold_breakdown
    imports = b.get("imports") if b else None
    if imports:
        add(
            f"`{b['function']}`'s imports by top-level package, cumulative (`python -X importtime`, which inflates "
            "them): " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in imports) + ".\n"  # type: ignore[attr-defined]
        )


def writes(out: list[str], results: Results) -> None:
    add = out.append
    measured = results.writes
    if measured is None:
        return
    per = measured.per_request
    add("## Write units and per-item write rates\n")
    add(
        f"Counted from the code's own writes (`bench/writes.py`, as `tests/integration/test_write_units.py` counts "
        f"them): {per.requests} buffered chat requests through the chat function's app in the bench process, then "
        "the aggregator drained; every write sent with `ReturnConsumedCapacity: INDEXES`. DynamoDB Local reports "
        f"a transactional write at {measured.factors.transactional_item:g}x AWS's 2 units per item and an index "
        f"entry a transaction writes at {measured.factors.transactional_index:g}x AWS's 1 (calibrated on scratch "
        "items in the same run); the units below are AWS's. Item sizes: "
        + ", ".join(f"{k} {v} B" for k, v in sorted(measured.sizes.items()))
        + " (each under 1 KB).\n"
    )
    add("| item | writes per request | AWS write units per request |")
    add("|---|---|---|")
    for line in results.cost.lines if results.cost else []:
        name = line.what
        count = per.writes.get(name)
        add(_row(name, _f(count) if count is not None else "", f"{line.units:.3f}"))
    add(f"| **total** | | **{per.total:.2f}** |")
    add("")
    add(
        f"The account's {per.shards} balance shards took the holds and settlements ({per.distinct_shards} distinct "
        f"shards written in the run). At {RATE:,} requests/s of one account through one key, the write units per "
        f"second each item or index partition takes (DynamoDB's limit: {ITEM_LIMIT:,} per partition; the "
        f"aggregator's: one transaction per second from each of {STREAM_SHARDS} stream shards at most, "
        f"{per.aggregator_per_transaction:.0f} units each in this run):\n"
    )
    add("| item or index partition | write units/s |")
    add("|---|---|")
    for name, rate in per.rates().items():
        add(_row(name, f"{rate:,.0f}"))
    add("")


def cost(out: list[str], results: Results) -> None:
    add = out.append
    model = results.cost
    if model is None:
        return
    add("## Cost per 1M chat requests\n")
    waits = " | ".join(f"model takes {w:g} s" for w in pricing.WAITS_S)
    add(f"| option | {waits} | basis |")
    add("|---|" + "---|" * len(pricing.WAITS_S) + "---|")
    for option in model.options:
        add(_row(option.name, *(f"${usd:,.2f}" for usd in option.usd), option.basis))
    add("")
    price = pricing.PRICES["dynamodb_write_per_million"]
    add(
        f"The gateway's own billed time on Lambda (1024 MB) per request = max(its added latency at c=1 here (the "
        "gateway's plus its settlement's round trip, which its invocation waits for after the answer), its "
        f"CPU time here / {pricing.LAMBDA_VCPU_AT_1024MB:.2f} vCPU): "
        + ", ".join(f"{PEERS.get(t, t)} {ms:.1f} ms" for t, ms in model.own_ms.items())
        + f". Its write units: {model.wcu_per_request:.2f} per request (above) at "
        f"${price}/M = ${model.wcu_per_request * price:.2f}; "
        f"the aggregator's invocations and time: ${model.aggregator_usd:.3f}. The peers, deployed as the chat "
        "function is (API Gateway + Lambda, 1024 MB), write nothing: they keep no balance, ledger or usage. "
        "Reads: the key's read (a TransactGetItems with its account's gate and balance shards) is cached 30 s per "
        "warm environment, so it is left out. Streams' reads by Lambda's event source mapping are free.\n"
    )
    add(
        "Assumed prices (us-east-1, not fetched, check before use): "
        + ", ".join(f"{pricing.PRICE_LABELS[k]} {v:g}" for k, v in pricing.PRICES.items())
        + ". CloudWatch Logs, X-Ray, Secrets Manager and data transfer are left out.\n"
    )


def sizes(out: list[str], results: Results) -> None:
    add = out.append
    build = results.build
    add("## Package sizes (`sam build`)\n")
    if build is None or not build.ok:
        add(f"Not measured: {build.error if build else 'not run'}.\n")
        return
    add(f"`{build.command}`, {build.seconds:.0f} s. Unzipped counts against Lambda's 250 MB; zipped ~ uploaded.\n")
    add("| artifact | unzipped KB | zipped KB | files |")
    add("|---|---|---|---|")
    for p in build.packages:
        add(_row(p.name, f"{p.kb:,}", f"{p.zipped_kb:,}", f"{p.files:,}"))
    add("")
