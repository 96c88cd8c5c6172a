"""`make bench`: one run of every measurement, then docs/BENCHMARKS.md from its numbers.

Everything listens on 127.0.0.1 (Portkey's server binds every interface; it is only called on
loopback) and every load is bounded in count and time. Order: the peers' installs (own folders under
.local/bench, cached), DynamoDB Local, the write units of the code's own writes (in this process), the
fake upstream, the gateway as the template deploys it (with the aggregator beside it) and as `make dev`
serves it, the floor (bench/floor.py: the same stack and round trips without the gateway's logic),
LiteLLM and Portkey; warm up; DynamoDB round trips; the load matrix (upstream latency x
target x buffered/stream x concurrency), CPU per request of every process; a py-spy profile of the
gateway; cold starts; `sam build` sizes; the cost model; the doc.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field

from bench import coldstart, cost, floor, gateway, litellm_proxy, machine, portkey, profile, report, roundtrip, writes
from bench.loadgen import LoadResult, run_load
from bench.procs import Child, Self
from devtools.dynamodb_local import DynamoDBLocal, free_port
from devtools.template import ROOT

LOGS = ROOT / ".local" / "bench" / "logs"
DOC = ROOT / "docs" / "BENCHMARKS.md"
LATENCIES_MS = (0, 50)
# (concurrency, requests) per upstream latency; each phase also stops after PHASE_SECONDS.
PLAN = {0: ((1, 300), (10, 1500)), 50: ((1, 200), (10, 800))}
PHASE_SECONDS = 30.0
TARGETS = ("direct", "gateway", "gateway (make dev)", "floor", "litellm", "portkey")
# Gateway requests (buffered, streamed) before measuring: DynamoDB Local's JIT keeps speeding up its
# transactions for thousands of them.
WARMUP = (2000, 300)
QUICK = os.environ.get("BENCH_QUICK") == "1"  # a smoke run of the bench itself: 1/10 of the requests
if QUICK:
    PLAN = {latency: tuple((c, max(n // 10, 20)) for c, n in plan) for latency, plan in PLAN.items()}
    WARMUP = (200, 30)
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 32}
STREAM_BODY = {**BODY, "stream": True, "stream_options": {"include_usage": True}}


@dataclass
class Phase:
    target: str  # one of TARGETS
    latency_ms: int
    stream: bool
    result: LoadResult
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per request


@dataclass
class Results:
    started: float
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""
    waited_s: float = 0.0  # waiting for the machine to be quiet enough
    litellm_install: litellm_proxy.Install | None = None
    portkey_install: portkey.Install | None = None
    errors: dict[str, str] = field(default_factory=dict)  # peer -> why it was not measured
    startup_s: dict[str, float] = field(default_factory=dict)
    roundtrips: list[roundtrip.RoundTrip] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> {idle, peak}
    writes: writes.Measured | None = None
    profile: profile.Profile | None = None
    coldstarts: list[coldstart.ColdStart] = field(default_factory=list)
    cold_breakdown: dict[str, object] = field(default_factory=dict)
    build: coldstart.BuildSizes | None = None
    cost: cost.CostModel | None = None
    wall_s: float = 0.0
    steal_percent: float = 0.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Processes:
    """The processes whose CPU time each phase accounts (the bench itself, the load generator, too)."""

    def __init__(self) -> None:
        self.children: dict[str, Child | Self] = {"load generator (bench)": Self()}

    def cpu(self) -> dict[str, float]:
        return {name: child.cpu_seconds() for name, child in self.children.items()}


async def load(
    results: Results, procs: Processes, target: str, url: str, headers: dict[str, str], latency: int
) -> None:
    for stream in (False, True):
        for concurrency, requests in PLAN[latency]:
            before = procs.cpu()
            result = await run_load(
                url, STREAM_BODY if stream else BODY, headers, requests=requests, concurrency=concurrency,
                max_seconds=PHASE_SECONDS,
            )  # fmt: skip
            after = procs.cpu()
            cpu = {name: (after[name] - before[name]) * 1000 / max(result.ok, 1) for name in before}
            results.phases.append(Phase(target, latency, stream, result, cpu))
            mode = "stream" if stream else "buffered"
            log(
                f"{target:18} {latency:2} ms {mode:8} c={concurrency:<2} {result.ok}/{requests} ok, "
                f"{result.rps:7.1f} rps, p50 {result.latency_ms(50):7.2f} ms"
                + (f", ttft p50 {result.ttft_ms(50):6.2f} ms" if stream else "")
                + (f", errors {result.errors}" if result.errors else "")
            )


async def set_latency(upstream: str, ms: int) -> None:
    await run_load(f"{upstream}/_latency?ms={ms}", {}, {}, requests=1, concurrency=1)


def main() -> int:
    results = Results(started=time.time())
    LOGS.mkdir(parents=True, exist_ok=True)
    results.waited_s, results.load_before = machine.wait_for_quiet(log, limit=0 if QUICK else machine.WAIT_SECONDS)
    results.machine, results.versions = machine.describe()
    cpu_before = machine.cpu_times()
    log("LiteLLM and Portkey: their installs (cached after the first run), py-spy for the profile")
    results.litellm_install = litellm_proxy.ensure_installed(LOGS / "litellm-install.log")
    results.portkey_install = portkey.ensure_installed(LOGS / "portkey-install.log")
    spy_missing = profile.ensure_py_spy(LOGS / "py-spy-install.log")
    procs = Processes()
    database = DynamoDBLocal(free_port()).start()
    procs.children["DynamoDB Local"] = Child.adopt("DynamoDB Local", database.process)
    children: list[Child] = []
    try:
        tenant = gateway.create_tenant(database.endpoint)
        upstream_port = free_port()
        upstream = Child(
            "fake upstream",
            [sys.executable, "-m", "bench.upstream", str(upstream_port)],
            {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
            LOGS / "upstream.log",
            ROOT,
        )
        children.append(upstream)
        upstream.wait_for_port(upstream_port, 20)
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        procs.children["fake upstream"] = upstream
        log("write units: 200 requests through the gateway's code in this process, every write recorded")
        results.writes = writes.measure(database.endpoint, tenant, upstream_url, requests=20 if QUICK else 200)
        ports = {name: free_port() for name in TARGETS}
        started = time.monotonic()
        deployed = gateway.start_template_gateway(
            gateway.template_env(database.endpoint, upstream_url, ports["gateway"]), LOGS
        )
        results.startup_s["gateway"] = time.monotonic() - started
        aggregator = gateway.start_aggregator(gateway.gateway_env(database.endpoint, upstream_url), LOGS)
        started = time.monotonic()
        dev = gateway.start_dev_gateway(
            ports["gateway (make dev)"], gateway.gateway_env(database.endpoint, upstream_url), LOGS
        )
        results.startup_s["gateway (make dev)"] = time.monotonic() - started
        bare = floor.start(
            ports["floor"], database.endpoint, upstream_url, gateway.gateway_env(database.endpoint, upstream_url), LOGS
        )
        children += [deployed, aggregator, dev, bare]
        procs.children.update({"gateway": deployed, "aggregator": aggregator, "gateway (make dev)": dev, "floor": bare})
        peers = _start_peers(results, upstream_url, ports)
        children += list(peers.values())
        procs.children.update(peers)
        for name in ("gateway", "gateway (make dev)", *peers):
            results.rss_mb[name] = {"idle": procs.children[name].rss_mb()}  # type: ignore[union-attr]
        asyncio.run(_measure(results, procs, tenant, upstream_url, ports, set(peers), spy_missing))
        for name in results.rss_mb:
            results.rss_mb[name]["peak"] = procs.children[name].peak_rss_mb()  # type: ignore[union-attr]
        for child in reversed(children):
            if child is not upstream:
                child.stop()
        log("cold starts (fresh interpreter per run, median of 5)")
        env = gateway.gateway_env(database.endpoint, upstream_url)
        operator_key = gateway.create_operator_key()
        results.coldstarts = coldstart.measure(env, tenant.key, operator_key, runs=1 if QUICK else 5)
        results.cold_breakdown = coldstart.breakdown(env, tenant.key)
        for cold in results.coldstarts:
            log(f"cold start {cold.name}: import {cold.import_ms:.0f} ms + first request {cold.first_ms:.0f} ms")
    finally:
        for child in reversed(children):
            child.stop()
        database.stop()
    log("sam build (sizes of each function and the layers)")
    results.build = coldstart.sam_build(LOGS / "sam-build.log")
    log(f"sam build: ok={results.build.ok} in {results.build.seconds:.0f} s")
    results.cost = cost.model(results)
    results.wall_s = time.time() - results.started
    results.steal_percent = machine.steal_share(cpu_before, machine.cpu_times())
    results.load_after = machine.load_average()
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(report.render(results))
    log(f"wrote {DOC.relative_to(ROOT)} ({results.wall_s:.0f} s in all)")
    return 0


def _start_peers(results: Results, upstream_url: str, ports: dict[str, int]) -> dict[str, Child]:
    peers: dict[str, Child] = {}
    if results.litellm_install and results.litellm_install.ok:
        try:
            peers["litellm"], results.startup_s["litellm"] = litellm_proxy.start(ports["litellm"], upstream_url, LOGS)
        except (RuntimeError, TimeoutError) as error:
            results.errors["litellm"] = f"the proxy did not start: {str(error).splitlines()[0]}"
    else:
        results.errors["litellm"] = (
            f"install failed: {results.litellm_install.reason if results.litellm_install else '?'}"
        )
    if results.portkey_install and results.portkey_install.ok:
        try:
            peers["portkey"], results.startup_s["portkey"] = portkey.start(ports["portkey"], LOGS)
        except (RuntimeError, TimeoutError) as error:
            results.errors["portkey"] = f"the gateway did not start: {str(error).splitlines()[0]}"
    else:
        results.errors["portkey"] = (
            f"install failed: {results.portkey_install.reason if results.portkey_install else '?'}"
        )
    return peers


async def _measure(
    results: Results,
    procs: Processes,
    tenant: gateway.Tenant,
    upstream_url: str,
    ports: dict[str, int],
    peers: set[str],
    spy_missing: str | None,
) -> None:
    chat = "/v1/chat/completions"
    targets = {
        "direct": (f"{upstream_url}{chat}", {"authorization": f"Bearer {gateway.UPSTREAM_KEY}"}),
        "gateway": (f"http://127.0.0.1:{ports['gateway']}{chat}", {"authorization": f"Bearer {tenant.key}"}),
        "gateway (make dev)": (
            f"http://127.0.0.1:{ports['gateway (make dev)']}{chat}",
            {"authorization": f"Bearer {tenant.key}"},
        ),
        "floor": (f"http://127.0.0.1:{ports['floor']}{chat}", {}),
        "litellm": (
            f"http://127.0.0.1:{ports['litellm']}{chat}",
            {"authorization": f"Bearer {litellm_proxy.MASTER_KEY}"},
        ),
        "portkey": (f"http://127.0.0.1:{ports['portkey']}{chat}", portkey.headers(upstream_url, gateway.UPSTREAM_KEY)),
    }
    ours = ("direct", "gateway", "gateway (make dev)", "floor")
    measured = [name for name in TARGETS if name in ours or name in peers]
    await set_latency(upstream_url, 0)
    for name in measured:
        url, headers = targets[name]
        buffered, streamed = WARMUP if name.startswith("gateway") or name == "floor" else (300, 100)
        log(f"warmup: {buffered} buffered + {streamed} streamed requests through {name}")
        await run_load(url, BODY, headers, requests=buffered, concurrency=10, max_seconds=60)
        await run_load(url, STREAM_BODY, headers, requests=streamed, concurrency=10, max_seconds=60)
    scratch = gateway.create_tenant(os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "bench-roundtrips")
    results.roundtrips = await asyncio.to_thread(roundtrip.measure, gateway.TABLE, scratch, 300, 300)
    log(f"DynamoDB Local round trips: {[(r.name, round(r.p50_ms, 2)) for r in results.roundtrips]}")
    for latency in LATENCIES_MS:
        await set_latency(upstream_url, latency)
        for name in measured:
            await load(results, procs, name, *targets[name], latency)
    await set_latency(upstream_url, 0)
    if spy_missing:
        results.profile = profile.Profile(False, reason=spy_missing)
        return
    log("profiling the gateway (as the template deploys it) with py-spy (--gil) for 10 s under load")
    raw = LOGS / "gateway-profile.raw"
    raw.unlink(missing_ok=True)
    spy = profile.start_recording(procs.children["gateway"].pid, 10, raw)  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    url, headers = targets["gateway"]
    await run_load(url, BODY, headers, requests=100_000, concurrency=10, max_seconds=10)
    await asyncio.to_thread(spy.wait, 60)
    results.profile = profile.summarise(raw, 10)


if __name__ == "__main__":
    raise SystemExit(main())
