"""`make bench`: one run of every measurement, then docs/BENCHMARKS.md from its numbers.

Everything listens on 127.0.0.1 and every load is bounded in count and time. Order: install LiteLLM
(own venv, cached), start DynamoDB Local, the fake upstream, the gateway and LiteLLM; warm up; one
DynamoDB round trip; the load matrix (upstream latency x target x buffered/stream x concurrency);
a py-spy profile where a target is missed; cold starts; `sam build` sizes; the cost model; the doc.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

from bench import coldstart, cost, gateway, litellm_proxy, machine, profile, report, roundtrip
from bench.loadgen import LoadResult, run_load
from bench.procs import Child
from devtools.dynamodb_local import DynamoDBLocal, free_port
from devtools.template import ROOT

LOGS = ROOT / ".local" / "bench" / "logs"
DOC = ROOT / "docs" / "BENCHMARKS.md"
LATENCIES_MS = (0, 50)
# (concurrency, requests) per upstream latency; each phase also stops after PHASE_SECONDS.
PLAN = {0: ((1, 300), (10, 2000)), 50: ((1, 200), (10, 1000))}
PHASE_SECONDS = 40.0
# Gateway requests (buffered, streamed) before measuring: DynamoDB Local's JIT keeps speeding up its
# transactions for thousands of them.
WARMUP = (2500, 300)
QUICK = os.environ.get("BENCH_QUICK") == "1"  # a smoke run of the bench itself: 1/10 of the requests
if QUICK:
    PLAN = {latency: tuple((c, max(n // 10, 20)) for c, n in plan) for latency, plan in PLAN.items()}
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 32}
STREAM_BODY = {**BODY, "stream": True, "stream_options": {"include_usage": True}}


@dataclass
class Phase:
    target: str  # direct | gateway | litellm
    latency_ms: int
    stream: bool
    result: LoadResult
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per request


@dataclass
class Results:
    started: float
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    litellm_install: litellm_proxy.Install | None = None
    litellm_error: str | None = None
    litellm_startup_s: float | None = None
    gateway_startup_s: float | None = None
    roundtrips: list[roundtrip.RoundTrip] = field(default_factory=list)
    roundtrips_after: list[roundtrip.RoundTrip] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> {idle, peak}
    profile: profile.Profile | None = None
    profile_phase: str = ""
    coldstarts: list[coldstart.ColdStart] = field(default_factory=list)
    cold_breakdown: dict[str, object] = field(default_factory=dict)
    build: coldstart.BuildSizes | None = None
    cost: cost.CostModel | None = None
    wall_s: float = 0.0
    steal_percent: float = 0.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Processes:
    """The processes whose CPU time each phase accounts."""

    def __init__(self) -> None:
        self.children: dict[str, Child] = {}

    def cpu(self) -> dict[str, float]:
        return {name: child.cpu_seconds() for name, child in self.children.items()}


async def load(
    results: Results, procs: Processes, target: str, url: str, headers: dict[str, str], latency: int
) -> None:
    for stream in (False, True):
        for concurrency, requests in PLAN[latency]:
            before = procs.cpu()
            result = await run_load(
                url,
                STREAM_BODY if stream else BODY,
                headers,
                requests=requests,
                concurrency=concurrency,
                max_seconds=PHASE_SECONDS,
            )
            after = procs.cpu()
            cpu = {name: (after[name] - before[name]) * 1000 / max(result.ok, 1) for name in before}
            results.phases.append(Phase(target, latency, stream, result, cpu))
            mode = "stream" if stream else "buffered"
            log(
                f"{target:8} {latency:2} ms {mode:8} c={concurrency:<2} {result.ok}/{requests} ok, "
                f"{result.rps:7.1f} rps, p50 {result.latency_ms(50):7.2f} ms"
                + (f", ttft p50 {result.ttft_ms(50):6.2f} ms" if stream else "")
                + (f", errors {result.errors}" if result.errors else "")
            )


async def set_latency(upstream: str, ms: int) -> None:
    await run_load(f"{upstream}/_latency?ms={ms}", {}, {}, requests=1, concurrency=1)


def main() -> int:
    results = Results(started=time.time())
    LOGS.mkdir(parents=True, exist_ok=True)
    results.machine, results.versions = machine.describe()
    cpu_before = machine.cpu_times()
    log("LiteLLM: ensuring its venv (pip install 'litellm[proxy]', cached after the first run)")
    results.litellm_install = litellm_proxy.ensure_installed(LOGS / "litellm-install.log")
    log(f"LiteLLM install: {results.litellm_install}")
    procs = Processes()
    database = DynamoDBLocal(free_port()).start()
    procs.children["DynamoDB Local"] = _adopt("dynamodb", database)
    children: list[Child] = []
    try:
        tenant = gateway.create_tenant(database.endpoint)
        upstream_port = free_port()
        upstream = Child(
            "upstream",
            [sys.executable, "-m", "bench.upstream", str(upstream_port)],
            {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
            LOGS / "upstream.log",
            ROOT,
        )
        children.append(upstream)
        upstream.wait_for_port(upstream_port, 20)
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        procs.children["fake upstream"] = upstream
        gateway_port = free_port()
        started = time.monotonic()
        gw = gateway.start_gateway(gateway_port, gateway.gateway_env(database.endpoint, upstream_url), LOGS)
        results.gateway_startup_s = time.monotonic() - started
        children.append(gw)
        procs.children["gateway"] = gw
        results.rss_mb["gateway"] = {"idle": gw.rss_mb()}
        lite: Child | None = None
        litellm_port = free_port()
        if results.litellm_install.ok:
            try:
                lite, results.litellm_startup_s = litellm_proxy.start(litellm_port, upstream_url, LOGS)
                children.append(lite)
                procs.children["LiteLLM"] = lite
                results.rss_mb["LiteLLM"] = {"idle": lite.rss_mb()}
            except (RuntimeError, TimeoutError) as error:
                results.litellm_error = f"the proxy did not start: {str(error).splitlines()[0]}"
        else:
            results.litellm_error = f"install failed: {results.litellm_install.reason}"
        asyncio.run(_measure(results, procs, tenant, upstream_url, gateway_port, lite, litellm_port))
        results.rss_mb["gateway"]["peak"] = gw.peak_rss_mb()
        if lite is not None:
            results.rss_mb["LiteLLM"]["peak"] = lite.peak_rss_mb()
        for child in reversed(children):
            if child is not upstream:
                child.stop()
        log("cold starts (fresh interpreter per run, median of 5)")
        env = gateway.gateway_env(database.endpoint, upstream_url)
        results.coldstarts = coldstart.measure(env, tenant.key, runs=1 if QUICK else 5)
        results.cold_breakdown = coldstart.breakdown(env, tenant.key)
        for cold in results.coldstarts:
            log(f"cold start {cold.name}: import {cold.import_ms:.0f} ms + first request {cold.first_ms:.0f} ms")
        results.cost = cost.model(
            cost.measured_sizes(gateway.TABLE, tenant.account_id, tenant.key_hash),
            gateway_seconds=_added_latency_s(results),
            gateway_cpu_seconds=_gateway_cpu_s(results),
        )
    finally:
        for child in reversed(children):
            child.stop()
        database.stop()
    log("sam build (sizes of each function and the layer)")
    results.build = coldstart.sam_build(LOGS / "sam-build.log")
    log(f"sam build: ok={results.build.ok} in {results.build.seconds:.0f} s")
    results.wall_s = time.time() - results.started
    results.steal_percent = machine.steal_share(cpu_before, machine.cpu_times())
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(report.render(results))
    log(f"wrote {DOC.relative_to(ROOT)} ({results.wall_s:.0f} s in all)")
    return 0


async def _measure(
    results: Results,
    procs: Processes,
    tenant: gateway.Tenant,
    upstream_url: str,
    gateway_port: int,
    lite: Child | None,
    litellm_port: int,
) -> None:
    gateway_url = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
    gateway_headers = {"authorization": f"Bearer {tenant.key}"}
    direct_url = f"{upstream_url}/v1/chat/completions"
    direct_headers = {"authorization": f"Bearer {gateway.UPSTREAM_KEY}"}
    litellm_url = f"http://127.0.0.1:{litellm_port}/v1/chat/completions"
    litellm_headers = {"authorization": f"Bearer {litellm_proxy.MASTER_KEY}"}
    log(f"warmup: {WARMUP[0]} buffered + {WARMUP[1]} streamed requests through the gateway (JIT of DynamoDB Local too)")
    await set_latency(upstream_url, 0)
    await run_load(gateway_url, BODY, gateway_headers, requests=WARMUP[0], concurrency=10, max_seconds=60)
    await run_load(gateway_url, STREAM_BODY, gateway_headers, requests=WARMUP[1], concurrency=10, max_seconds=30)
    await run_load(direct_url, BODY, direct_headers, requests=500, concurrency=10, max_seconds=30)
    if lite is not None:
        log("warmup: 300 requests through LiteLLM")
        await run_load(litellm_url, BODY, litellm_headers, requests=200, concurrency=10, max_seconds=60)
        await run_load(litellm_url, STREAM_BODY, litellm_headers, requests=100, concurrency=10, max_seconds=60)
    # The hot path's own transactions, replayed on an account of their own.
    scratch = gateway.create_tenant(os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "bench-roundtrips")
    hot_path = (scratch.account_id, scratch.key_hash)
    results.roundtrips = await asyncio.to_thread(
        roundtrip.measure, gateway.TABLE, tenant.account_id, 300, 500, hot_path
    )
    log(f"DynamoDB Local round trips: {results.roundtrips}")
    for latency in LATENCIES_MS:
        await set_latency(upstream_url, latency)
        await load(results, procs, "direct", direct_url, direct_headers, latency)
        await load(results, procs, "gateway", gateway_url, gateway_headers, latency)
        if lite is not None:
            await load(results, procs, "litellm", litellm_url, litellm_headers, latency)
    await set_latency(upstream_url, 0)
    results.roundtrips_after = await asyncio.to_thread(
        roundtrip.measure, gateway.TABLE, tenant.account_id, 300, 100, hot_path
    )
    if not report.all_met(results):
        results.profile_phase = "10 s of buffered requests at c=10, 0 ms upstream"
        reason = profile.ensure_py_spy(LOGS / "py-spy-install.log")
        if reason:
            results.profile = profile.Profile(False, reason=reason)
        else:
            log("profiling the gateway with py-spy (--gil) for 10 s under load")
            raw = LOGS / "gateway-profile.raw"
            raw.unlink(missing_ok=True)
            spy = profile.start_recording(procs.children["gateway"].pid, 10, raw)
            await asyncio.sleep(0.5)
            await run_load(gateway_url, BODY, gateway_headers, requests=100_000, concurrency=10, max_seconds=10)
            await asyncio.to_thread(spy.wait, 60)
            results.profile = profile.summarise(raw, 10)


def _adopt(name: str, database: DynamoDBLocal) -> Child:
    """A Child view of the DynamoDB Local process (started by devtools), for its CPU and memory."""
    child = Child.__new__(Child)
    child.name = name
    child.process = database.process  # type: ignore[assignment]
    return child


def _added_latency_s(results: Results) -> float:
    added = report.added_latency(results, "gateway", 0, stream=False, concurrency=1, q=50)
    return max(added or 0.0, 0.0) / 1000


def _gateway_cpu_s(results: Results) -> float:
    phase = report.find(results, "gateway", 0, stream=False, concurrency=1)
    return phase.cpu_ms_per_request.get("gateway", 0.0) / 1000 if phase else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
