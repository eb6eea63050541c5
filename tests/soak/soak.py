#!/usr/bin/env python3
"""Bounded soak of the real gateway against real upstream processes (docs/robustness.md).

Mixed traffic for SOAK_MINUTES (default 30) at about SOAK_RPS requests/s (default 40): JSON
and streamed completions through the openai and anthropic providers and a fallback route, client
disconnects mid-stream, upstream faults (errors, resets, garbage, streams cut short: the test
upstream's fault modes), and dashboard queries. Every few seconds it samples the gateway's RSS,
open descriptors, store size (db + WAL) and the client-measured p99 of JSON requests.

Fails when
  - memory or descriptors grow without bound: a least-squares slope over the second half of the
    samples, extrapolated over that half, exceeds max(8 MiB, 5% of the median RSS), or
    max(4, 2 x workers) descriptors;
  - any request is lost: every chat request sent must have its row in the request store
    (counted by request id after the gateway's clean shutdown), and none may be dropped;
  - the gateway crashes or does not exit cleanly on SIGTERM.
Prints one summary line (and writes every sample to <build>/soak/samples.csv).

Usage: tests/soak/soak.py [BUILD_DIR]   (default: build)
Env: SOAK_MINUTES (float), SOAK_RPS, SOAK_WORKERS (default 4), SOAK_SEED.
"""
import csv
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
RPS = float(os.environ.get("SOAK_RPS", "40"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "4"))
SEED = int(os.environ.get("SOAK_SEED", "20240601"))
DURATION_S = MINUTES * 60
SAMPLE_S = min(15.0, max(1.0, DURATION_S / 120))


def start(args, env=None, pattern=rb"listening on (\S+)"):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            # Keep draining the pipes so the child never blocks on a full one.
            for pipe in (proc.stdout, proc.stderr):
                threading.Thread(target=lambda p=pipe: [None for _ in p], daemon=True).start()
            return proc, m.group(1).decode()
    proc.kill()
    raise SystemExit(f"soak: {args[0]} did not start: {proc.stderr.read().decode()[-2000:]}")


def config(dir_, up1, up2):
    ep1 = f"http://127.0.0.1:{up1}/v1"
    ep2 = f"http://127.0.0.1:{up2}/v1"
    m = lambda name, ep, up, tier="small", provider="openai", key="": (
        f"  - {{name: {name}, provider: {provider}, endpoint: \"{ep}\", upstream_model: \"{up}\", "
        f"tier: {tier}, prices: {{input: 0.5, output: 1.5}}{key}}}\n")
    return ("server: {host: 127.0.0.1, port: 0, threads: 2, idle_timeout_ms: 5000}\n"
            f"store: {{type: sqlite, path: {dir_}/soak.db}}\n"
            "models:\n"
            + m("fast", ep1, "gpt-soak")
            + m("claude", ep2, "claude-soak", "large", "anthropic", ", api_key_env: SOAK_KEY")
            + m("slowstream", ep1, "mode:delay-chunks-20,tokens-40")
            + m("err500", ep1, "mode:error-500")
            + m("reset", ep1, "mode:reset")
            + m("garbage", ep1, "mode:garbage")
            + m("cut", ep1, "mode:cut")
            + m("slow", ep1, "mode:slow-300")
            + "routes:\n"
            "  - {name: resilient, type: fallback, children: [err500, fast]}\n")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0          # chat requests written to the gateway
        self.ids = set()       # their request ids (x-request-id)
        self.no_id = 0         # chat requests whose answer carried no request id
        self.by_kind = {}
        self.latencies = []    # JSON request latencies (s) since the last sample
        self.dashboard = 0
        self.transport_errors = 0

    def chat(self, kind, rid, latency=None):
        with self.lock:
            self.sent += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if rid:
                self.ids.add(rid)
            else:
                self.no_id += 1
            if latency is not None:
                self.latencies.append(latency)


def body(model, text, stream=False):
    b = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return json.dumps(b)


HEADERS = {"content-type": "application/json"}
KINDS = [  # (weight, kind)
    (40, "json"), (8, "json_claude"), (6, "json_route"), (14, "stream"), (5, "stream_claude"),
    (7, "disconnect"), (3, "err500"), (2, "reset"), (2, "garbage"), (2, "cut"), (2, "slow"),
    (9, "dashboard"),
]


def worker(port, stats, stop, seed):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    weights = [w for w, _ in KINDS]
    kinds = [k for _, k in KINDS]
    interval = WORKERS / RPS
    next_at = time.monotonic()
    n = 0
    while not stop.is_set():
        next_at += interval * rng.uniform(0.5, 1.5)
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        kind = rng.choices(kinds, weights)[0]
        n += 1
        text = f"soak {seed} {n} " + "word " * rng.randint(1, 40)
        try:
            if kind == "dashboard":
                path = rng.choice(["/v1/dashboard/summary", "/v1/dashboard/timeseries",
                                   "/v1/dashboard/models", "/metrics", "/healthz"])
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path}: {r.status}")
                with stats.lock:
                    stats.dashboard += 1
                continue
            if kind == "disconnect":
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("POST", "/v1/chat/completions", body("slowstream", text, True), HEADERS)
                r = c.getresponse()
                rid = r.getheader("x-request-id")
                r.read1(64) if hasattr(r, "read1") else r.read(64)
                c.sock.shutdown(2)
                c.close()
                stats.chat(kind, rid)
                continue
            model = {"json": "fast", "json_claude": "claude", "json_route": "resilient",
                     "stream": "fast", "stream_claude": "claude"}.get(kind, kind)
            stream = kind.startswith("stream") or kind == "cut"
            t0 = time.monotonic()
            conn.request("POST", "/v1/chat/completions", body(model, text, stream), HEADERS)
            r = conn.getresponse()
            data = r.read()
            latency = time.monotonic() - t0
            rid = r.getheader("x-request-id")
            stats.chat(kind, rid, latency if kind.startswith("json") else None)
            expect_ok = kind in ("json", "json_claude", "json_route", "stream", "stream_claude")
            if expect_ok and (r.status != 200 or (stream and b"[DONE]" not in data)):
                raise RuntimeError(f"{kind}: status {r.status}: {data[:200]!r}")
            if not expect_ok and kind != "cut" and kind != "slow" and r.status < 500:
                raise RuntimeError(f"{kind}: expected a 5xx, got {r.status}")
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            with stats.lock:
                stats.transport_errors += 1
                if stats.transport_errors <= 5:
                    print(f"soak: {kind}: {e}", file=sys.stderr)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slope(xs, ys):
    n = len(xs)
    if n < 3:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def p99(values):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(0.99 * len(v)))]


def main():
    triage = os.path.join(BUILD, "bin", "triage")
    upstream = os.path.join(BUILD, "bin", "triage-test-upstream")
    for b in (triage, upstream):
        if not os.path.exists(b):
            raise SystemExit(f"soak: {b} not found (build first)")
    out_dir = os.path.join(BUILD, "soak")
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="triage-soak-")
    up1, port1 = start([upstream, "--port", "0", "--threads", "1"])
    up2, port2 = start([upstream, "--port", "0", "--threads", "1"])
    cfg = os.path.join(tmp, "triage.yaml")
    with open(cfg, "w") as f:
        f.write(config(tmp, port1, port2))
    gw, url = start([triage, "serve", "-c", cfg, "--listen", "127.0.0.1:0"], {"SOAK_KEY": "sk-soak"},
                    pattern=rb"triage: listening on (http://\S+)")
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    stats = Stats()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(port, stats, stop, SEED + i))
               for i in range(WORKERS)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    samples = []  # (t_s, rss_kib, fds, store_bytes, p99_ms, requests)
    failure = None
    try:
        while time.monotonic() - t_start < DURATION_S:
            time.sleep(min(SAMPLE_S, max(0.0, DURATION_S - (time.monotonic() - t_start))))
            if gw.poll() is not None:
                failure = f"the gateway exited (code {gw.returncode}) during the soak"
                break
            with stats.lock:
                lat, stats.latencies = stats.latencies, []
                sent = stats.sent
            store = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)
                        if f.startswith("soak.db"))
            samples.append((round(time.monotonic() - t_start, 1), rss_kib(gw.pid),
                            len(os.listdir(f"/proc/{gw.pid}/fd")), store,
                            round(p99(lat) * 1000, 2), sent))
    finally:
        stop.set()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - t_start
    with open(os.path.join(out_dir, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_kib", "fds", "store_bytes", "p99_ms", "requests"])
        w.writerows(samples)

    dropped = None
    if failure is None:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/metrics")
            m = re.search(rb"\ntriage_store_dropped_total (\S+)", c.getresponse().read())
            dropped = float(m.group(1)) if m else None
        except OSError as e:
            failure = f"/metrics after the soak: {e}"
        gw.send_signal(signal.SIGTERM)
        try:
            code = gw.wait(60)
            if code != 0 and failure is None:
                failure = f"the gateway exited with code {code} on SIGTERM"
        except subprocess.TimeoutExpired:
            gw.kill()
            failure = failure or "the gateway did not exit within 60 s of SIGTERM"
    else:
        gw.kill()
    for u in (up1, up2):
        u.terminate()
        u.wait(10)

    rows = 0
    missing = len(stats.ids)
    if os.path.exists(os.path.join(tmp, "soak.db")):
        db = sqlite3.connect(os.path.join(tmp, "soak.db"))
        rows = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        stored = {r[0] for r in db.execute("SELECT request_id FROM requests")}
        missing = len(stats.ids - stored)
        db.close()
    lost = max(stats.sent - rows, 0) + missing

    # Slope test over the second half.
    half = [s for s in samples if s[0] >= elapsed / 2]
    xs = [s[0] for s in half]
    rss_growth_kib = slope(xs, [s[1] for s in half]) * (xs[-1] - xs[0]) if len(half) >= 3 else 0
    fd_growth = slope(xs, [s[2] for s in half]) * (xs[-1] - xs[0]) if len(half) >= 3 else 0
    median_rss = statistics.median(s[1] for s in samples) if samples else 0
    rss_limit_kib = max(8 * 1024, 0.05 * median_rss)
    fd_limit = max(4, 2 * WORKERS)
    problems = []
    if failure:
        problems.append(failure)
    if len(half) < 3:
        problems.append(f"too few samples for the slope test ({len(half)} in the second half)")
    if rss_growth_kib > rss_limit_kib:
        problems.append(f"RSS grows {rss_growth_kib / 1024:.1f} MiB over the second half "
                        f"(limit {rss_limit_kib / 1024:.1f})")
    if fd_growth > fd_limit:
        problems.append(f"descriptors grow {fd_growth:.1f} over the second half (limit {fd_limit})")
    if lost:
        problems.append(f"{lost} requests lost ({stats.sent} sent, {rows} rows, {missing} ids "
                        f"missing)")
    if stats.no_id:
        problems.append(f"{stats.no_id} answers without x-request-id")
    if dropped:
        problems.append(f"the store dropped {dropped:.0f} rows")
    if stats.transport_errors:
        problems.append(f"{stats.transport_errors} unexpected answers or transport errors")
    p99s = [s[4] for s in samples if s[4] > 0]
    summary = (
        f"soak: {'FAIL' if problems else 'ok'} minutes={elapsed / 60:.1f} requests={stats.sent} "
        f"rows={rows} lost={lost} dashboard={stats.dashboard} "
        f"disconnects={stats.by_kind.get('disconnect', 0)} "
        f"faults={sum(stats.by_kind.get(k, 0) for k in ('err500', 'reset', 'garbage', 'cut'))} "
        f"rss_mib={samples[0][1] / 1024 if samples else 0:.1f}->{samples[-1][1] / 1024 if samples else 0:.1f} "
        f"rss_slope_mib={rss_growth_kib / 1024:+.2f} "
        f"fds={samples[0][2] if samples else 0}->{samples[-1][2] if samples else 0} "
        f"fd_slope={fd_growth:+.1f} store_mib={samples[-1][3] / 2**20 if samples else 0:.1f} "
        f"p99_ms_median={statistics.median(p99s) if p99s else 0:.1f} "
        f"p99_ms_max={max(p99s) if p99s else 0:.1f}"
        + ("" if not problems else " problems: " + "; ".join(problems)))
    print(summary)
    subprocess.run(["rm", "-rf", tmp])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
