#!/usr/bin/env python3
"""Benchmark harness: Tollgate against its peers, side by side (`just bench`).

Starts the demo subgraphs in their own process, then for every workload and
concurrency runs each router in turn on port 4000 (fresh process per run:
start, check the answer, warm up, measure, stop) with wrk as the load
generator, alternating the router order every round. Reports each figure's
median over the rounds and the ratio Tollgate/peer, writes the results into
docs/benchmarks.md (between the results markers) with an SVG chart, and
checks the issue's goals. Everything is loopback, every run bounded in time.

Workloads on the demo subgraphs (bench/queries/):
  w1_deep            users -> reviews -> product -> reviews -> author -> reviews -> product
                     (+ topProducts branch), @requires on inventory
  w2_single          one products query
  w3_deep_jwt        w1 with JWT required (RS256, verification cache on)
  w4_deep_jwt_miss   w1 with a distinct RS256 token per request (cache-miss path)
  w5_deep_jwt_rhai   w3 plus the example claim script (examples/rhai/main.rhai)
  w6_single_jwt      w2 (one fetch, dedupe off) with JWT required, one token (cache hit)
  w7_single_jwt_miss w6 with a distinct token per request: w7 - w6 is the cache-miss
                     cost, free of w3/w4's deduplication, whose sharing depends on timing
Public workload (graphql-hive/graphql-gateways-benchmark, not vendored: GGB_DIR):
  ggb_dedupe_on / ggb_dedupe_off   its supergraph and deep TestQuery
"Direct" rows replay the exact subgraph requests a router sends (captured
once through a Rhai script) straight at the subgraphs: their throughput is
the ceiling, and the single-fetch replay is the direct-call latency baseline.

Paired comparisons (after the rounds; the JWT goals are judged on them):
Tollgate with each variant running side by side, one process per variant on
ports BENCH_ROUTER_PORT+1.., measured in short bursts that alternate between
the variants (BENCH_PAIRS bursts each), so that the shared machine's drift,
which moves 10 s runs by 10% and more, hits every variant alike; each
figure is the median of the per-burst ratios or differences, with a 95%
confidence interval.
  jwt_cached_deep    w1 / w3, throughput (c=16; jwt_cached_deep_c64 at c=64)
  jwt_cached_single  w2 / w6, throughput
  jwt_miss_single    w6 / w7 / w8 (w6 with the verification cache off: one full
                     verification per request), router CPU per request at a
                     fixed offered rate (think time BENCH_PAIR_DELAY_MS per
                     connection), each w7 burst with a fresh slice of tokens

Environment (all optional):
  BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_ROUNDS=3 BENCH_CONCURRENCY="16 64"
  BENCH_PAIRS=24 BENCH_PAIR_DURATION=3s BENCH_PAIR_DELAY_MS=6   (BENCH_PAIRS=0: no pairs)
  BENCH_WORKLOADS="w1_deep ggb_dedupe_on jwt_miss_single ..."   subset to run
                          (default: all; a pair runs when named or all its variants are)
  BENCH_OUT=docs/benchmarks.md  BENCH_SVG=docs/benchmarks.svg  BENCH_JSON=docs/benchmarks.json
  PEERS_DIR=/work/peers   HIVE_ROUTER_BIN=$PEERS_DIR/hive/bin/hive_router
                          APOLLO_ROUTER_BIN=$PEERS_DIR/apollo/bin/router
  GGB_DIR=/tmp/ggb        GGB_SUBGRAPHS_BIN=$GGB_DIR/target/release/subgraphs
  BENCH_SKIP_BUILD=1      use the existing target/release binaries
  BENCH_TOKEN_POOL        distinct tokens for w4 and w7 (default: sized from w3's and w6's rates)
  BENCH_ROUTER_PORT=4000 BENCH_DEMO_PORT=4100 BENCH_GGB_PORT=4200 BENCH_APOLLO_HEALTH_PORT=4301
Options: --quick (3 s runs, 1 round, c=16, 2 pairs of 2 s bursts, results to
target/bench/), --list.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
ROUTER_PORT = int(os.environ.get("BENCH_ROUTER_PORT", "4000"))
DEMO_PORT = int(os.environ.get("BENCH_DEMO_PORT", "4100"))
GGB_PORT = int(os.environ.get("BENCH_GGB_PORT", "4200"))
APOLLO_HEALTH_PORT = int(os.environ.get("BENCH_APOLLO_HEALTH_PORT", "4301"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 60.0
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def die(message: str) -> None:
    log(message)
    sys.exit(2)


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not match:
        die(f"`{text}` is not a duration like 10s")
    value = float(match.group(1))
    return {"ms": value / 1000, "m": value * 60}.get(match.group(2) or "s", value)


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A started server process with its log; measures its CPU time and RSS."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.log_path = log_path
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.log_file = open(log_path, "wb")
        self.popen = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      env=full_env, cwd=cwd or REPO, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def cpu_ns(self) -> int:
        """Time on CPU of all the process's threads in nanoseconds (the
        scheduler's own clock, /proc/PID/task/*/schedstat): precise enough
        for bursts of a few seconds, where clock ticks are not. Threads that
        ended are missed, so only for processes with a fixed thread pool."""
        total = 0
        for stat in Path(f"/proc/{self.pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def status_kib(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self.log_file.close()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http(url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {},
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_ready(proc: Proc, url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start:\n{proc.tail()}")
        try:
            status, _ = http(url, timeout=1.0)
            if status == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout:.0f}s:\n{proc.tail()}")


# --------------------------------------------------------------------------
# wrk


@dataclass
class Load:
    """What wrk sends: a body, and a token or a token file."""
    url: str
    body_file: Path | None = None
    token: str = ""
    tokens_file: Path | None = None
    tokens_offset: int = 0
    replay_file: Path | None = None
    delay_ms: float = 0.0


def wrk(load: Load, connections: int, duration: float) -> dict:
    env = dict(os.environ)
    script = BENCH / "wrk.lua"
    env["BENCH_TOKEN"] = load.token
    env["BENCH_TOKENS_FILE"] = str(load.tokens_file or "")
    env["BENCH_TOKENS_OFFSET"] = str(load.tokens_offset)
    env["BENCH_DELAY_MS"] = str(load.delay_ms) if load.delay_ms else ""
    if load.replay_file is not None:
        script = BENCH / "replay.lua"
        env["BENCH_REPLAY_FILE"] = str(load.replay_file)
    else:
        env["BENCH_BODY_FILE"] = str(load.body_file)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
           "--timeout", "10s", "-s", str(script), load.url]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=duration + 60)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    values = dict(kv.split("=", 1) for kv in line.split()[1:])
    return {k: float(v) for k, v in values.items()}


# --------------------------------------------------------------------------
# Routers


@dataclass
class Target:
    """Subgraphs and supergraph a router runs against."""
    name: str
    supergraph: Path
    subgraph_urls: dict[str, str]
    proc: Proc | None = None


@dataclass
class Workload:
    name: str
    title: str
    target: str                 # "demo" or "ggb"
    body: bytes
    routers: tuple[str, ...]
    jwt: str = ""               # "", "cached" or "distinct"
    jwt_cache: bool = True      # Tollgate's verification cache (off: verify every request)
    rhai: bool = False
    dedupe: bool = True
    replay: bool = False        # add a direct (subgraphs only) row
    family: str = ""            # workloads of one family must answer the same data
    cached_twin: str = ""       # for jwt="distinct": the same workload with one token
    pairs_only: bool = False    # measured in the paired comparisons only


class Router:
    """One router implementation: how to configure and start it."""
    name = ""
    version = ""

    def start(self, work: Path, target: Target, workload: Workload, tag: str) -> Proc:
        raise NotImplementedError

    def supports(self, workload: Workload) -> bool:
        return not workload.jwt and not workload.rhai


class Tollgate(Router):
    name = "tollgate"

    def __init__(self, binary: Path):
        self.binary = binary
        self.version = subprocess.run([str(binary), "--version"], capture_output=True,
                                      text=True, timeout=10).stdout.strip()
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        if rev:
            self.version += f" ({rev})"

    def supports(self, workload: Workload) -> bool:
        return True

    def config(self, target: Target, workload: Workload, capture: Path | None = None,
               port: int = ROUTER_PORT) -> str:
        lines = [
            f"supergraph: {{ path: {json.dumps(str(target.supergraph))} }}",
            f'http: {{ listen: "127.0.0.1:{port}" }}',
            "subgraphs:",
        ]
        for name, url in target.subgraph_urls.items():
            lines.append(f"  {name}: {{ url: {json.dumps(url)}, "
                         f"deduplicate_requests: {str(workload.dedupe).lower()} }}")
        if capture is not None:
            lines.append("log: { level: warn, format: json }")
            lines.append(f"rhai: {{ scripts: {json.dumps(str(capture.parent))}, "
                         f"main: {capture.name} }}")
        else:
            lines.append("log: { level: warn }")
        if workload.jwt:
            lines += [
                "jwt:",
                "  require_authentication: true",
                f"  jwks_providers: [{{ source: file, path: {json.dumps(str(REPO / 'dev/dev-jwks.json'))} }}]",
                "  issuers: [https://idp.local]",
            ]
            if not workload.jwt_cache:
                lines.append("  verification_cache: { enabled: false }")
        if workload.rhai:
            lines.append(f"rhai: {{ scripts: {json.dumps(str(REPO / 'examples/rhai'))}, main: main.rhai }}")
        return "\n".join(lines) + "\n"

    def start(self, work: Path, target: Target, workload: Workload, tag: str,
              capture: Path | None = None, port: int = ROUTER_PORT) -> Proc:
        config = work / f"tollgate-{tag}.yaml"
        config.write_text(self.config(target, workload, capture, port))
        proc = Proc("tollgate", [str(self.binary), "--config", str(config)],
                    work / f"tollgate-{tag}.log")
        wait_ready(proc, f"http://127.0.0.1:{port}/health")
        return proc


class HiveRouter(Router):
    name = "hive-router"

    def __init__(self, binary: Path, version: str):
        self.binary = binary
        self.version = version

    def start(self, work: Path, target: Target, workload: Workload, tag: str) -> Proc:
        config = work / f"hive-{tag}.yaml"
        overrides = "\n".join(
            f"    {name}:\n      url: {json.dumps(url)}"
            for name, url in target.subgraph_urls.items())
        # Subgraph deduplication (traffic_shaping.all) is the counterpart of
        # Tollgate's; Hive's inbound (router) deduplication stays off, its default.
        config.write_text(
            f"supergraph:\n  source: file\n  path: {json.dumps(str(target.supergraph))}\n"
            f"http:\n  host: 127.0.0.1\n  port: {ROUTER_PORT}\n"
            "log:\n  level: warn\n"
            f"traffic_shaping:\n  all:\n    dedupe_enabled: {str(workload.dedupe).lower()}\n"
            f"override_subgraph_urls:\n  subgraphs:\n{overrides}\n"
            + (self.jwt_config() if workload.jwt else ""))
        proc = Proc("hive-router", [str(self.binary)], work / f"hive-{tag}.log",
                    env={"ROUTER_CONFIG_FILE_PATH": str(config)}, cwd=work)
        wait_ready(proc, f"http://127.0.0.1:{ROUTER_PORT}/health")
        return proc

    def supports(self, workload: Workload) -> bool:
        return not workload.rhai

    @staticmethod
    def jwt_config() -> str:
        jwks = json.dumps(str(REPO / "dev/dev-jwks.json"))
        return ("jwt:\n  enabled: true\n  require_authentication: true\n"
                f"  jwks_providers:\n    - source: file\n      path: {jwks}\n"
                "  issuers: [https://idp.local]\n")


class ApolloRouter(Router):
    name = "apollo-router"

    def __init__(self, binary: Path, version: str):
        self.binary = binary
        self.version = version

    def start(self, work: Path, target: Target, workload: Workload, tag: str) -> Proc:
        config = work / f"apollo-{tag}.yaml"
        overrides = "\n".join(f"    {name}: {json.dumps(url)}"
                              for name, url in target.subgraph_urls.items())
        config.write_text(
            f"supergraph:\n  listen: 127.0.0.1:{ROUTER_PORT}\n  path: /graphql\n"
            f"health_check:\n  listen: 127.0.0.1:{APOLLO_HEALTH_PORT}\n"
            f"traffic_shaping:\n  all:\n    deduplicate_query: {str(workload.dedupe).lower()}\n"
            f"override_subgraph_url:\n{overrides}\n"
            "homepage:\n  enabled: false\n")
        proc = Proc("apollo-router",
                    [str(self.binary), "--supergraph", str(target.supergraph), "--config",
                     str(config), "--log", "warn"],
                    work / f"apollo-{tag}.log",
                    env={"APOLLO_TELEMETRY_DISABLED": "true"}, cwd=work)
        wait_ready(proc, f"http://127.0.0.1:{APOLLO_HEALTH_PORT}/health")
        return proc


# --------------------------------------------------------------------------
# The harness


@dataclass
class Settings:
    duration: float
    warmup: float
    rounds: int
    concurrency: list[int]
    workloads: list[str] | None
    out: Path
    svg: Path
    json_out: Path
    quick: bool
    pairs: int = 0              # bursts per variant in each paired comparison (0: none)
    pair_duration: float = 3.0
    pair_delay_ms: float = 4.0  # think time of the fixed-rate pairs


@dataclass
class Run:
    """One measured run."""
    workload: str
    concurrency: int
    router: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    peak_rss_mib: float
    rss_mib: float
    cpu_per_10k: float
    subgraph_cpu_per_10k: float


@dataclass
class Pair:
    """A paired comparison: Tollgate with each variant running side by side
    (one process each, on its own port), measured in short bursts that
    alternate between the variants, so that the machine's drift hits every
    variant alike. `rate`: each connection waits a random think time
    between requests (a fixed offered rate, the same for every variant), so
    CPU per request compares at the same load; otherwise as fast as the
    router answers (throughput)."""
    name: str
    title: str
    variants: tuple[str, ...]   # workload names; the first is the baseline
    rate: bool = False
    connections: int = 16


@dataclass
class PairRun:
    """One burst of a paired comparison."""
    pair: str
    index: int
    variant: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us: float               # router CPU per request (µs)


@dataclass
class Harness:
    settings: Settings
    work: Path
    tollgate: Tollgate
    peers: list[Router]
    skipped_peers: dict[str, str]
    targets: dict[str, Target] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    pair_specs: list[Pair] = field(default_factory=list)
    pair_runs: list[PairRun] = field(default_factory=list)
    reference_data: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    replays: dict[str, tuple[Path, int]] = field(default_factory=dict)
    token: str = ""
    token_pool: Path | None = None
    token_pool_size: int = 0
    warm_pool: Path | None = None
    warm_pool_size: int = 0
    rs256_verify_us: float | None = None

    def routers(self, workload: Workload) -> list[Router]:
        chosen = [self.tollgate] + [p for p in self.peers if p.name in workload.routers]
        return [r for r in chosen if r.supports(workload)]

    # ---- checks

    def check_answer(self, router: str, workload: Workload, load: Load) -> None:
        """One request before measuring: HTTP 200, data, no errors, and the
        same data as the first router that answered this workload."""
        headers = {"content-type": "application/json"}
        if load.token:
            headers["authorization"] = f"Bearer {load.token}"
        status, raw = http(load.url, workload.body, headers, timeout=30)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise RuntimeError(f"{router} answered {status} with a non-JSON body: {raw[:300]!r}")
        if status != 200 or answer.get("errors") or not answer.get("data"):
            raise RuntimeError(f"{router} answered {status}: {raw[:600]!r}")
        canonical = json.dumps(answer["data"], sort_keys=True)
        reference = self.reference_data.setdefault(workload.family or workload.name, canonical)
        if canonical != reference:
            self.notes.append(f"{workload.name}: {router}'s data differs from the first router's")
            log(f"WARNING: {router}'s data for {workload.name} differs from the first router's")

    # ---- one run

    def measure(self, workload: Workload, router: Router, connections: int, round_no: int) -> None:
        target = self.targets[workload.target]
        tag = f"{workload.name}-c{connections}-r{round_no}"
        load = Load(url=f"http://127.0.0.1:{ROUTER_PORT}/graphql",
                    body_file=self.work / f"{workload.name}.json", token=self.token if workload.jwt else "")
        proc = router.start(self.work, target, workload, tag)
        try:
            self.check_answer(router.name, workload, load)
            warm = load
            if workload.jwt == "distinct":
                warm = Load(url=load.url, body_file=load.body_file, tokens_file=self.warm_pool)
                load = Load(url=load.url, body_file=load.body_file, tokens_file=self.token_pool)
            wrk(warm, connections, self.settings.warmup)
            cpu0, sub0 = proc.cpu_seconds(), target.proc.cpu_seconds()
            result = wrk(load, connections, self.settings.duration)
            cpu1, sub1 = proc.cpu_seconds(), target.proc.cpu_seconds()
            peak, rss = proc.status_kib("VmHWM"), proc.status_kib("VmRSS")
            if result["errors"] > 0:
                raise RuntimeError(f"{int(result['errors'])} failed requests "
                                   f"({int(result['non2xx'])} non-2xx)")
            if not proc.alive():
                raise RuntimeError("the router exited during the run")
            self.check_answer(router.name, workload,
                              Load(url=load.url, token=self.token if workload.jwt else ""))
            requests = int(result["requests"])
            if workload.jwt == "distinct" and requests + connections > self.token_pool_size:
                self.notes.append(f"{tag}: {requests} requests but only {self.token_pool_size} "
                                  "distinct tokens: some were sent twice (raise BENCH_TOKEN_POOL)")
        finally:
            proc.stop()
        per_10k = 10_000 / max(1, requests)
        run = Run(workload.name, connections, router.name, round_no, result["rps"],
                  result["p50_ms"], result["p99_ms"], requests, peak / 1024, rss / 1024,
                  (cpu1 - cpu0) * per_10k, (sub1 - sub0) * per_10k)
        self.runs.append(run)
        log(f"  {router.name:13} {workload.name:18} c={connections:<3} {run.rps:9.1f} req/s "
            f"p50 {run.p50_ms:6.2f} ms p99 {run.p99_ms:6.2f} ms peak {run.peak_rss_mib:5.1f} MiB "
            f"cpu {run.cpu_per_10k:5.2f} s/10k (subgraphs {run.subgraph_cpu_per_10k:5.2f})")

    def measure_direct(self, workload: Workload, connections: int, round_no: int) -> None:
        """Replays the captured subgraph requests of one client request at the subgraphs."""
        replay, fetches = self.replays[workload.name]
        target = self.targets[workload.target]
        base = next(iter(target.subgraph_urls.values())).rsplit("/", 1)[0]
        load = Load(url=base, replay_file=replay)
        wrk(load, connections, self.settings.warmup)
        sub0 = target.proc.cpu_seconds()
        result = wrk(load, connections, self.settings.duration)
        sub1 = target.proc.cpu_seconds()
        if result["errors"] > 0:
            raise RuntimeError(f"direct replay: {int(result['errors'])} failed requests")
        # One client request is `fetches` subgraph requests.
        rps = result["rps"] / fetches
        requests = max(1, int(result["requests"]) // fetches)
        run = Run(workload.name, connections, "subgraphs-direct", round_no, rps,
                  result["p50_ms"], result["p99_ms"], requests,
                  target.proc.status_kib("VmHWM") / 1024, target.proc.status_kib("VmRSS") / 1024,
                  0.0, (sub1 - sub0) * 10_000 / requests)
        self.runs.append(run)
        log(f"  {'direct':13} {workload.name:18} c={connections:<3} {rps:9.1f} req/s-equivalent "
            f"({fetches} subgraph requests each; per subgraph request p50 {run.p50_ms:.2f} ms)")

    # ---- capture for the direct replay

    def capture(self, workload: Workload) -> None:
        target = self.targets[workload.target]
        script_dir = self.work / "capture"
        script_dir.mkdir(exist_ok=True)
        script = script_dir / "capture.rhai"
        shutil.copy(BENCH / "capture.rhai", script)
        plain = Workload(workload.name, workload.title, workload.target, workload.body,
                         workload.routers, dedupe=False)
        proc = self.tollgate.start(self.work, target, plain, f"capture-{workload.name}", capture=script)
        try:
            status, raw = http(f"http://127.0.0.1:{ROUTER_PORT}/graphql", workload.body,
                               {"content-type": "application/json"}, timeout=30)
            if status != 200:
                raise RuntimeError(f"capture request answered {status}: {raw[:300]!r}")
            time.sleep(0.3)
        finally:
            proc.stop()
        entries = []
        for line in proc.log_path.read_text(errors="replace").splitlines():
            try:
                message = json.loads(line).get("fields", {}).get("message", "")
            except ValueError:
                continue
            if message.startswith("BENCH_CAPTURE "):
                captured = json.loads(message[len("BENCH_CAPTURE "):])
                path = "/" + captured.pop("subgraph")
                if captured.get("operationName") is None:
                    captured.pop("operationName", None)
                if not captured.get("variables"):
                    captured.pop("variables", None)
                entries.append(f"{path}\t{json.dumps(captured, separators=(',', ':'))}")
        if not entries:
            raise RuntimeError(f"captured no subgraph request for {workload.name}:\n{proc.tail()}")
        replay = self.work / f"{workload.name}.replay"
        replay.write_text("\n".join(entries) + "\n")
        self.replays[workload.name] = (replay, len(entries))
        log(f"captured {len(entries)} subgraph requests per {workload.name} request")

    # ---- tokens

    def make_tokens(self) -> None:
        config = self.work / "token.yaml"
        demo = self.targets["demo"]
        jwt_workload = Workload("w3", "", "demo", b"", (), jwt="cached")
        config.write_text(self.tollgate.config(demo, jwt_workload))
        self.token = subprocess.run(
            [str(self.tollgate.binary), "dev-token", "--config", str(config), "--ttl-secs", "7200"],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=True).stdout.strip()

    def pool_sizes(self, workload: Workload) -> tuple[int, int]:
        """Distinct tokens one run and one warm-up of a cache-miss workload
        need: the fastest rate of its cached twin (any router), 30% more. When
        the twin's router CPU per request and the verification cost are known,
        the rate is first scaled by c / (c + verification): each request of
        the miss workload also verifies a signature, so it runs slower (w7's
        twin w6 answers about twice as fast as w7 can)."""
        twin = [r for r in self.runs if r.workload == workload.cached_twin]
        rate = max((r.rps for r in twin), default=4000.0)
        ours = [r for r in twin if r.router == "tollgate"]
        if ours and self.rs256_verify_us:
            fastest = max(ours, key=lambda r: r.rps)
            cpu_us = fastest.cpu_per_10k * 100
            if cpu_us > 0:
                rate = max(rate * cpu_us / (cpu_us + self.rs256_verify_us), fastest.rps * 0.5)
        wanted = os.environ.get("BENCH_TOKEN_POOL")
        size = int(wanted) if wanted else int(rate * self.settings.duration * 1.3) + 256
        return size, int(rate * self.settings.warmup * 1.3) + 256

    def ensure_token_pools(self, workload: Workload) -> None:
        """Mints (or tops up) the run and warm-up pools of distinct tokens so
        they are large enough for `workload`. The pools are shared by every
        cache-miss workload and run (each run starts a fresh router, so its
        cache starts empty); the warm-up pool is separate because the warm-up
        runs in the measured router process."""
        self.grow_token_pools(*self.pool_sizes(workload))

    def grow_token_pools(self, size: int, warm: int) -> None:
        """Mints tokens until the run pool holds at least `size` and the
        warm-up pool at least `warm`, then checks that all are distinct."""
        if size <= self.token_pool_size and warm <= self.warm_pool_size:
            return
        config = self.work / "token.yaml"
        started = time.monotonic()
        for pool, have, count in (("run", self.token_pool_size, size),
                                  ("warm", self.warm_pool_size, warm)):
            if count <= have:
                continue
            # Every batch has its own `sub` (its `jti`s start at bench-0 again).
            with open(self.work / f"tokens-{pool}.txt", "a") as out:
                subprocess.run(
                    [str(self.tollgate.binary), "dev-token", "--config", str(config),
                     "--ttl-secs", "7200", "--sub", f"{pool}-{have}", "--count", str(count - have)],
                    stdout=out, timeout=1800, cwd=REPO, check=True)
        self.token_pool, self.warm_pool = self.work / "tokens-run.txt", self.work / "tokens-warm.txt"
        self.token_pool_size = max(size, self.token_pool_size)
        self.warm_pool_size = max(warm, self.warm_pool_size)
        total = self.token_pool_size + self.warm_pool_size
        distinct = len(set(self.token_pool.read_text().split()) | set(self.warm_pool.read_text().split()))
        if distinct != total:
            raise RuntimeError(f"token pools are not distinct: {distinct} of {total}")
        log(f"token pools now {self.token_pool_size} + {self.warm_pool_size} distinct RS256 tokens "
            f"(minted in {time.monotonic() - started:.0f}s)")

    # ---- paired comparisons

    def pair_load(self, workload: Workload, port: int, spec: Pair) -> Load:
        load = Load(url=f"http://127.0.0.1:{port}/graphql",
                    body_file=self.work / f"{workload.name}.json",
                    token=self.token if workload.jwt else "",
                    delay_ms=self.settings.pair_delay_ms if spec.rate else 0.0)
        if workload.jwt == "distinct":
            load.token = ""
            load.tokens_file = self.token_pool
        return load

    def run_pair(self, spec: Pair) -> None:
        """Starts one router per variant, then `pairs` rounds of one burst
        per variant (order reversed every other round). A cache-miss
        variant takes a fresh slice of the token pool for every burst, so
        its router never sees a token twice."""
        by_name = {w.name: w for w in self.workloads}
        variants = [by_name[v] for v in spec.variants]
        target = self.targets[variants[0].target]
        s = self.settings
        distinct = any(w.jwt == "distinct" for w in variants)
        if distinct:
            # A fixed-rate burst runs at about connections / delay, a
            # saturated one below 20,000 requests per second here. The
            # paired routers are fresh processes: tokens the rounds used
            # are new to them, so the pools only need to be large enough.
            rate = spec.connections / (s.pair_delay_ms / 1000) if spec.rate else 20_000
            self.grow_token_pools(
                int(rate * s.pair_duration * 1.3 + spec.connections) * s.pairs + 256,
                int(rate * min(2.0, s.warmup) * 1.3) + 256)
        procs: dict[str, Proc] = {}
        offset = 0
        try:
            for i, workload in enumerate(variants):
                port = ROUTER_PORT + 1 + i
                procs[workload.name] = self.tollgate.start(
                    self.work, target, workload, f"pair-{spec.name}-{workload.name}", port=port)
                load = self.pair_load(workload, port, spec)
                self.check_answer("tollgate", workload, Load(url=load.url, token=self.token if workload.jwt else ""))
                warm = load
                if workload.jwt == "distinct":
                    warm = Load(url=load.url, body_file=load.body_file, tokens_file=self.warm_pool,
                                delay_ms=load.delay_ms)
                wrk(warm, spec.connections, min(2.0, s.warmup))
            for index in range(s.pairs):
                order = variants if index % 2 == 0 else variants[::-1]
                for workload in order:
                    proc = procs[workload.name]
                    port = ROUTER_PORT + 1 + variants.index(workload)
                    load = self.pair_load(workload, port, spec)
                    if workload.jwt == "distinct":
                        load.tokens_offset = offset
                    cpu0 = proc.cpu_ns()
                    result = wrk(load, spec.connections, s.pair_duration)
                    cpu1 = proc.cpu_ns()
                    if result["errors"] > 0:
                        raise RuntimeError(f"{workload.name}: {int(result['errors'])} failed requests")
                    if not proc.alive():
                        raise RuntimeError(f"{workload.name}: the router exited")
                    requests = int(result["requests"])
                    if workload.jwt == "distinct":
                        offset += requests + spec.connections
                    self.pair_runs.append(PairRun(
                        spec.name, index, workload.name, result["rps"], result["p50_ms"],
                        result["p99_ms"], requests, (cpu1 - cpu0) / 1000 / max(1, requests)))
            if distinct and offset > self.token_pool_size:
                self.notes.append(f"pair {spec.name}: {offset} tokens used but the pool holds "
                                  f"{self.token_pool_size}: some were sent twice")
        finally:
            for proc in procs.values():
                proc.stop()
        summary = []
        for workload in variants:
            mine = [r for r in self.pair_runs if r.pair == spec.name and r.variant == workload.name]
            summary.append(f"{workload.name} {statistics.median(r.rps for r in mine):.0f} req/s "
                           f"{statistics.median(r.cpu_us for r in mine):.1f} µs")
        log(f"  pair {spec.name}: " + "; ".join(summary))

    def run_pairs(self) -> None:
        for spec in self.pair_specs:
            if not self.pair_wanted(spec):
                continue
            log(f"paired comparison {spec.name}: {' / '.join(spec.variants)}, "
                f"{self.settings.pairs} bursts of {self.settings.pair_duration:.0f} s each"
                + (f", think time {self.settings.pair_delay_ms:.0f} ms" if spec.rate else ""))
            try:
                self.run_pair(spec)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                self.notes.append(f"pair {spec.name}: {error}".splitlines()[0])
                log(f"FAILED pair {spec.name}: {error}")

    # ---- the whole thing

    def run(self) -> None:
        selected = [w for w in self.workloads if not w.pairs_only and (
            self.settings.workloads is None or w.name in self.settings.workloads)]
        pairs_wanted = bool(self.settings.pairs) and any(map(self.pair_wanted, self.pair_specs))
        if pairs_wanted or any(w.jwt for w in selected):
            self.make_tokens()
        for workload in selected:
            if workload.replay:
                self.capture(workload)
        for round_no in range(1, self.settings.rounds + 1):
            log(f"round {round_no} of {self.settings.rounds} (load average {load_average()})")
            for workload in selected:
                if workload.jwt == "distinct":
                    try:
                        self.ensure_token_pools(workload)
                    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                        self.notes.append(f"{workload.name} skipped: minting tokens failed: {error}")
                        log(f"FAILED minting the token pool: {error}")
                        selected = [w for w in selected if w is not workload]
                        continue
                for connections in self.settings.concurrency:
                    routers = self.routers(workload)
                    if round_no % 2 == 0:
                        routers = routers[::-1]
                    for router in routers:
                        try:
                            self.measure(workload, router, connections, round_no)
                        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                            self.notes.append(f"{workload.name} c={connections} {router.name} "
                                              f"round {round_no}: {error}".splitlines()[0])
                            log(f"FAILED {router.name} {workload.name} c={connections}: {error}")
                    if workload.replay:
                        try:
                            self.measure_direct(workload, connections, round_no)
                        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                            self.notes.append(f"{workload.name} direct c={connections}: {error}")
                            log(f"FAILED direct {workload.name}: {error}")
        if self.settings.pairs:
            self.run_pairs()

    def pair_wanted(self, spec: Pair) -> bool:
        selected = self.settings.workloads
        return selected is None or spec.name in selected or all(v in selected for v in spec.variants)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------
# Setup


def build_binaries() -> tuple[Path, Path]:
    if not os.environ.get("BENCH_SKIP_BUILD"):
        log("building the release binaries (cargo build --release -p tollgate -p tollgate-demo)")
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "tollgate", "-p", "tollgate-demo"],
                       cwd=REPO, check=True, timeout=3600)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    tollgate, demo = target_dir / "release/tollgate", target_dir / "release/tollgate-demo"
    for binary in (tollgate, demo):
        if not binary.exists():
            die(f"{binary} is missing (unset BENCH_SKIP_BUILD to build it)")
    return tollgate, demo


def find_peers() -> tuple[list[Router], dict[str, str]]:
    peers_dir = Path(os.environ.get("PEERS_DIR", "/work/peers"))
    peers: list[Router] = []
    skipped: dict[str, str] = {}
    hive = Path(os.environ.get("HIVE_ROUTER_BIN", peers_dir / "hive/bin/hive_router"))
    if hive.exists():
        version_file = hive.parent.parent / "VERSION"
        version = version_file.read_text().strip() if version_file.exists() else "unknown version"
        peers.append(HiveRouter(hive, version))
    else:
        skipped["hive-router"] = (f"not found at {hive}: install it with `cargo install hive-router "
                                  f"--locked --features graphiql --root {peers_dir}/hive` "
                                  "(see docs/benchmarks.md), or set HIVE_ROUTER_BIN")
    apollo = Path(os.environ.get("APOLLO_ROUTER_BIN", peers_dir / "apollo/bin/router"))
    if apollo.exists():
        out = subprocess.run([str(apollo), "--version"], capture_output=True, text=True, timeout=30)
        peers.append(ApolloRouter(apollo, out.stdout.strip() or "unknown version"))
    else:
        skipped["apollo-router"] = (
            f"not found at {apollo}. Its installers download a prebuilt binary from outside "
            "the package registries, which this machine cannot reach; the only way is "
            "building the `apollo-router` crate from crates.io (about 740 crates), which did "
            "not finish within a working session on the 2-core development machine. See "
            "docs/benchmarks.md, or set APOLLO_ROUTER_BIN")
    for name, why in skipped.items():
        log(f"{name} skipped: {why}")
    return peers, skipped


def graphql_body(path: Path) -> bytes:
    text = path.read_text()
    query = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    return json.dumps({"query": query.strip()}).encode()


def ggb_setup(work: Path, notes: list[str]) -> tuple[Path, Path, bytes] | None:
    """The public workload, from a checkout outside the repository."""
    ggb = Path(os.environ.get("GGB_DIR", "/tmp/ggb"))
    binary = Path(os.environ.get("GGB_SUBGRAPHS_BIN", ggb / "target/release/subgraphs"))
    supergraph = ggb / "gateways/hive-router/supergraph.graphql"
    k6 = ggb / "k6.js"
    missing = [str(p) for p in (binary, supergraph, k6) if not p.exists()]
    if missing:
        why = ("the public gateways benchmark is not set up (missing: " + ", ".join(missing) +
               "). Get graphql-hive/graphql-gateways-benchmark into GGB_DIR and build its "
               "subgraphs there with cargo; see docs/benchmarks.md")
        log(why)
        notes.append("ggb workloads skipped: " + why)
        return None
    match = re.search(r"query:\s*`([^`]*)`", k6.read_text())
    if not match:
        notes.append(f"ggb workloads skipped: no query found in {k6}")
        return None
    sdl = supergraph.read_text().replace("http://0.0.0.0:4200", f"http://127.0.0.1:{GGB_PORT}")
    local = work / "ggb-supergraph.graphql"
    local.write_text(sdl)
    return binary, local, json.dumps({"query": match.group(1)}).encode()


def rs256_verify_us() -> float | None:
    """CPU time of one full RS256 verification (µs), from the jwt_verify_bench example."""
    try:
        out = subprocess.run(["cargo", "run", "--release", "-q", "-p", "tollgate", "--example",
                              "jwt_verify_bench"], cwd=REPO, capture_output=True, text=True,
                             timeout=1800)
    except subprocess.SubprocessError:
        return None
    match = (re.search(r"authenticate_uncached_cpu_ns=(\d+)", out.stdout)
             or re.search(r"authenticate_uncached_ns=(\d+)", out.stdout))
    return int(match.group(1)) / 1000 if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 1 round, c=16")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args()
    quick = args.quick
    env = os.environ.get
    settings = Settings(
        duration=seconds(env("BENCH_DURATION", "3s" if quick else "10s")),
        warmup=seconds(env("BENCH_WARMUP", "1s" if quick else "3s")),
        rounds=int(env("BENCH_ROUNDS", "1" if quick else "3")),
        concurrency=[int(c) for c in env("BENCH_CONCURRENCY", "16" if quick else "16 64").split()],
        workloads=env("BENCH_WORKLOADS", "").split() or None,
        out=REPO / env("BENCH_OUT", "target/bench/benchmarks.md" if quick else "docs/benchmarks.md"),
        svg=REPO / env("BENCH_SVG", "target/bench/benchmarks.svg" if quick else "docs/benchmarks.svg"),
        json_out=REPO / env("BENCH_JSON", "target/bench/benchmarks.json" if quick else "docs/benchmarks.json"),
        quick=quick,
        pairs=int(env("BENCH_PAIRS", "2" if quick else "24")),
        pair_duration=seconds(env("BENCH_PAIR_DURATION", "2s" if quick else "3s")),
        pair_delay_ms=float(env("BENCH_PAIR_DELAY_MS", "6")),
    )
    deep, single = graphql_body(BENCH / "queries/deep.graphql"), graphql_body(BENCH / "queries/single.graphql")
    demo_workloads = [
        Workload("w1_deep", "1: deep cross-subgraph query", "demo", deep,
                 ("hive-router", "apollo-router"), replay=True, family="deep"),
        # Deduplication off: every client request makes exactly one subgraph
        # request, so its latency compares with the direct call.
        Workload("w2_single", "2: single-subgraph query (dedupe off)", "demo", single,
                 ("hive-router", "apollo-router"), replay=True, dedupe=False, family="single"),
        Workload("w3_deep_jwt", "3: = 1 with JWT (RS256, cached)", "demo", deep,
                 ("hive-router",), jwt="cached", family="deep"),
        Workload("w4_deep_jwt_miss", "4: = 1 with a distinct RS256 token per request", "demo",
                 deep, ("hive-router",), jwt="distinct", family="deep", cached_twin="w3_deep_jwt"),
        Workload("w5_deep_jwt_rhai", "5: = 3 with the example Rhai claim script", "demo", deep,
                 (), jwt="cached", rhai=True, family="deep"),
        # The cache-miss goal's pair: w7 - w6 is what a miss adds. Without
        # deduplication every client request is one subgraph request in both,
        # whereas in w3/w4 how many requests deduplication saves depends on
        # timing, which the slower w4 changes.
        Workload("w6_single_jwt", "6: = 2 with JWT (RS256, cached)", "demo", single, (),
                 jwt="cached", dedupe=False, family="single"),
        Workload("w7_single_jwt_miss", "7: = 2 with a distinct RS256 token per request", "demo",
                 single, (), jwt="distinct", dedupe=False, family="single",
                 cached_twin="w6_single_jwt"),
        # The reference of the cache-miss pair: one full verification on every
        # request, measured in the same conditions as the miss.
        Workload("w8_single_jwt_nocache", "8: = 6 with the verification cache off", "demo",
                 single, (), jwt="cached", jwt_cache=False, dedupe=False, family="single",
                 pairs_only=True),
    ]
    pair_specs = [
        Pair("jwt_cached_deep", "JWT on (cached) against off, deep query, throughput, c=16",
             ("w1_deep", "w3_deep_jwt")),
        Pair("jwt_cached_deep_c64", "JWT on (cached) against off, deep query, throughput, c=64",
             ("w1_deep", "w3_deep_jwt"), connections=64),
        Pair("jwt_cached_single", "JWT on (cached) against off, single query, throughput, c=16",
             ("w2_single", "w6_single_jwt")),
        Pair("jwt_miss_single", "cache miss and full verification against a hit, "
             "single query, CPU per request at a fixed rate, c=16",
             ("w6_single_jwt", "w7_single_jwt_miss", "w8_single_jwt_nocache"), rate=True),
    ]
    if args.list:
        for w in demo_workloads:
            print(f"{w.name:18} {w.title}{' (paired comparisons only)' if w.pairs_only else ''}")
        for p in pair_specs:
            print(f"{p.name:18} paired: {p.title} ({' / '.join(p.variants)})")
        print(f"{'ggb_dedupe_on':18} public gateways benchmark, deduplication on")
        print(f"{'ggb_dedupe_off':18} public gateways benchmark, deduplication off")
        return
    if shutil.which("wrk") is None:
        log("wrk not found; installing it from Debian's packages")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
    pair_ports = [ROUTER_PORT + 1 + i for i in range(max(len(p.variants) for p in pair_specs))]
    for port in (ROUTER_PORT, DEMO_PORT, GGB_PORT, APOLLO_HEALTH_PORT, *pair_ports):
        if port_in_use(port):
            die(f"port {port} is already in use (a leftover router or subgraph?); stop it first")

    tollgate_bin, demo_bin = build_binaries()
    # Let the build (or whatever ran before) settle: up to 2 minutes for the
    # one-minute load average to fall under 1.
    deadline = time.monotonic() + (10 if quick else 120)
    while os.getloadavg()[0] > 1.0 and time.monotonic() < deadline:
        time.sleep(5)
    work = Path(tempfile.mkdtemp(prefix="tollgate-bench."))
    log(f"work directory (configs, logs): {work}")
    load_before = load_average()
    peers, skipped = find_peers()
    harness = Harness(settings, work, Tollgate(tollgate_bin), peers, skipped)
    harness.workloads = list(demo_workloads)
    harness.pair_specs = pair_specs
    procs: list[Proc] = []
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        demo = Proc("tollgate-demo", [str(demo_bin), "--listen", f"127.0.0.1:{DEMO_PORT}"],
                    work / "demo.log", env={"RUST_LOG": "warn"})
        procs.append(demo)
        wait_ready(demo, f"http://127.0.0.1:{DEMO_PORT}/health")
        harness.targets["demo"] = Target(
            "demo", REPO / "schemas/supergraph.graphql",
            {n: f"http://127.0.0.1:{DEMO_PORT}/{n}" for n in ("accounts", "products", "reviews", "inventory")},
            demo)
        wanted = settings.workloads
        if wanted is None or any(w.startswith("ggb") for w in wanted):
            ggb = ggb_setup(work, harness.notes)
            if ggb is not None:
                binary, supergraph, body = ggb
                sub = Proc("ggb-subgraphs", [str(binary)], work / "ggb-subgraphs.log",
                           env={"HOST": "127.0.0.1", "PORT": str(GGB_PORT), "SUBGRAPH_DELAY_MS": "0"})
                procs.append(sub)
                wait_ready(sub, f"http://127.0.0.1:{GGB_PORT}/health")
                harness.targets["ggb"] = Target(
                    "ggb", supergraph,
                    {n: f"http://127.0.0.1:{GGB_PORT}/{n}" for n in ("accounts", "inventory", "products", "reviews")},
                    sub)
                harness.workloads += [
                    Workload("ggb_dedupe_on", "public benchmark, dedupe on", "ggb", body,
                             ("hive-router", "apollo-router"), dedupe=True, replay=True,
                             family="ggb"),
                    Workload("ggb_dedupe_off", "public benchmark, dedupe off", "ggb", body,
                             ("hive-router", "apollo-router"), dedupe=False, family="ggb"),
                ]
        for workload in harness.workloads:
            (work / f"{workload.name}.json").write_bytes(workload.body)
        if wanted is None or any(w.jwt == "distinct" and w.name in wanted for w in demo_workloads) \
                or "jwt_miss_single" in wanted:
            harness.rs256_verify_us = rs256_verify_us()
        try:
            harness.run()
        except KeyboardInterrupt:
            harness.notes.append("interrupted: the results are partial")
    finally:
        for proc in procs:
            proc.stop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    import report  # bench/report.py, beside this file
    report.write(harness, started, finished, load_before, load_average())
    log(f"results written to {settings.out} and {settings.svg}")


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(BENCH))
    main()
