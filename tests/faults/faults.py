#!/usr/bin/env python3
"""Fault-injection suite: the real gateway against real misbehaving upstream processes
(docs/resilience.md "The faults suite").

Each scenario sends requests to a model or route whose upstream fails in one way (500s, 429 with
and without Retry-After, garbage, slowness past the deadline, hangs, resets before and during a
stream, an upstream that is down, one that recovers, a full concurrency gate) and asserts every
request's client-visible outcome: status, the model that answered, an OpenAI-style error body
(or an SSE error event) with Retry-After where one is due. After the gateway's clean shutdown
the store must hold exactly one row per request, with the outcome the client saw.

While the retry/fallback scenarios run, a second thread hot-reloads the config 20 times
(POST /admin/config, alternating two files that differ in a price, a route and a model) plus
one bad file (docs/config_versions.md): every good one must be applied as the next version,
the bad one refused with a FILE:LINE error, and every stored row must carry a version that was
serving while it ran. Failures of that count in reload_failures.

Ends with one line:
  faults: sent=N correct=N clear_errors=N wrong_or_lost=0 reload_failures=0
and exits 1 when any request was wrong or lost or a reload failed.

Usage: tests/faults/faults.py [BUILD_DIR] [--quick]   (default build; --quick: fewer repeats)
"""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
QUICK = "--quick" in sys.argv
BUILD = os.path.abspath(ARGS[0] if ARGS else os.path.join(ROOT, "build"))
REPEAT = 1 if QUICK else 3
SECRET = "sk-faults-SECRET-7d41c9e2b8"  # the upstream key: must appear nowhere


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
            out = []  # everything the child prints, to check that no secret appears
            for pipe in (proc.stdout, proc.stderr):
                threading.Thread(target=lambda p=pipe: [out.append(l) for l in p],
                                 daemon=True).start()
            proc.output = out
            return proc, m.group(1).decode()
    proc.kill()
    raise SystemExit(f"faults: {args[0]} did not start: {proc.stderr.read().decode()[-2000:]}")


def closed_port():
    """A port nothing listens on: an upstream that is down."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(dir_, up, down, variant=0):
    """variant 1: another price for `ok`, route fb_500 through fb_garbage's children, one
    more model (`extra`); what the reloads alternate with."""
    ep = f"http://127.0.0.1:{up}/v1"
    dead = f"http://127.0.0.1:{down}/v1"

    def m(name, upstream_model, extra="", endpoint=ep, price=0.5):
        return (f"  - {{name: {name}, provider: openai, endpoint: \"{endpoint}\", "
                f"upstream_model: \"{upstream_model}\", tier: small, api_key_env: FAULTS_KEY, "
                f"prices: {{input: {price}, output: 1.5}}{extra}}}\n")
    # Fast backoff so the suite stays short; the policy itself is the shipped one.
    return (
        "server: {host: 127.0.0.1, port: 0, threads: 2, request_timeout_ms: 4000}\n"
        f"store: {{type: sqlite, path: {dir_}/faults.db, flush_interval_ms: 20}}\n"
        "resilience:\n"
        "  retries: {max: 2, base_ms: 20, cap_ms: 100, budget_share: 1.0}\n"
        "  breaker: {consecutive_failures: 5, cool_down_ms: 1500}\n"
        "models:\n"
        + m("ok", "gpt-faults", price=0.5 if variant == 0 else 0.75)
        + (m("extra", "gpt-faults") if variant else "")
        + m("e500", "mode:error-500")
        + m("brk", "mode:error-503", ", retries: {max: 0}")
        + m("r429", "mode:error-429")
        + m("r429_long", "mode:error-429,retry-after-30")
        + m("garbage", "mode:garbage")
        + m("slow", "mode:slow-3000", ", timeout_ms: 500")
        + m("hang", "mode:stall", ", timeout_ms: 500")
        + m("reset", "mode:reset")
        + m("cut", "mode:cut")
        + m("down", "gpt-faults", "", dead)
        + m("multi", "gpt-faults", f", deployments: [{{endpoint: \"{dead}\", region: dead}}, "
            f"{{endpoint: \"{ep}\", region: live}}]")
        + m("narrow", "mode:slow-600", ", max_concurrency: 1, max_queue_ms: 50, overflow: ok")
        + m("narrow_503", "mode:slow-600", ", max_concurrency: 1, max_queue_ms: 50")
        # Two deployments with one slot each (their own quotas), no bound on the model itself.
        + m("pair", "mode:slow-600", f", max_queue_ms: 50, deployments: [{{endpoint: \"{ep}\", "
            f"region: p1, max_concurrency: 1}}, {{endpoint: \"{ep.replace('127.0.0.1', 'localhost')}\", "
            "region: p2, max_concurrency: 1}]")
        + "".join(m(f"rec{i}", f"mode:error-503,fail-first-1,id-rec{i}") for i in range(REPEAT))
        + "".join(m(f"ra{i}", f"mode:error-429,retry-after-1,fail-first-1,id-ra{i}")
                  for i in range(REPEAT))
        + "".join(m(f"rs{i}", f"mode:reset,fail-first-1,id-rs{i}") for i in range(REPEAT))
        + "routes:\n"
        + ("  - {name: fb_500, type: fallback, children: [e500, ok]}\n" if variant == 0 else
           "  - {name: fb_500, type: fallback, children: [garbage, e500, ok]}\n")
        + 
        "  - {name: fb_garbage, type: fallback, children: [garbage, ok]}\n"
        "  - {name: fb_down, type: fallback, children: [down, ok]}\n"
        "  - {name: fb_429, type: fallback, children: [r429_long, ok]}\n"
        "  - {name: fb_hang, type: fallback, children: [hang, ok]}\n")


class Result:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""
        self.error = ""
        self.elapsed = 0.0


def send(port, model, stream=False, headers=None, timeout=10):
    r = Result()
    body = json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": "fault injection check"}]})
    t0 = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("POST", "/v1/chat/completions", body,
                  {"content-type": "application/json", **(headers or {})})
        resp = c.getresponse()
        r.status = resp.status
        r.headers = {k.lower(): v for k, v in resp.getheaders()}
        r.body = resp.read()
        c.close()
    except Exception as e:  # noqa: BLE001 - any transport failure is a wrong outcome
        r.error = repr(e)
    r.elapsed = time.time() - t0
    return r


def error_object(r):
    try:
        e = json.loads(r.body)["error"]
        return e if isinstance(e, dict) and e.get("message") and e.get("type") else None
    except Exception:  # noqa: BLE001
        return None


def sse_events(r):
    out = []
    for block in r.body.decode(errors="replace").split("\n\n"):
        data = "\n".join(l[5:].strip() for l in block.split("\n") if l.startswith("data:"))
        if data:
            out.append(data)
    return out


# ---- expectations: each returns (ok, clear_error, why) ----------------------------------------

def answer_from(model, stream=False):
    def check(r):
        if r.status != 200:
            return False, False, f"status {r.status}: {r.body[:200]!r} {r.error}"
        if r.headers.get("x-triage-model") != model:
            return False, False, f"answered by {r.headers.get('x-triage-model')}, want {model}"
        if stream:
            ev = sse_events(r)
            if not ev or ev[-1] != "[DONE]" or any('"error"' in e for e in ev):
                return False, False, f"stream did not finish cleanly: {ev[-2:]}"
        else:
            try:
                content = json.loads(r.body)["choices"][0]["message"]["content"]
            except Exception:  # noqa: BLE001
                return False, False, f"not a completion: {r.body[:200]!r}"
            if not content.startswith("echo: "):
                return False, False, f"unexpected content {content!r}"
        return True, False, ""
    return check


def clear_error(statuses, retry_after=False, max_s=None):
    def check(r):
        if r.status not in statuses:
            return False, False, f"status {r.status}, want {statuses}: {r.body[:200]!r} {r.error}"
        e = error_object(r)
        if not e:
            return False, False, f"not an OpenAI error body: {r.body[:200]!r}"
        if "127.0.0.1" in e["message"] or "FAULTS_KEY" in e["message"]:
            return False, False, f"error names the inside: {e['message']}"
        if retry_after and not r.headers.get("retry-after", "").isdigit():
            return False, False, f"no Retry-After on {r.status}"
        if max_s is not None and r.elapsed > max_s:
            return False, False, f"took {r.elapsed:.2f} s, want <= {max_s}"
        return True, True, ""
    return check


def stream_error_event():
    def check(r):
        if r.status != 200:
            return False, False, f"status {r.status}, want a started stream"
        ev = sse_events(r)
        if not ev or not any('"error"' in e for e in ev):
            return False, False, f"no SSE error event: {ev[-3:]}"
        if ev[-1] == "[DONE]" and not any('"error"' in e for e in ev[-2:]):
            return False, False, "stream ended as if complete"
        return True, True, ""
    return check


def reload_config(port, yaml_text):
    """POST /admin/config (loopback, no auth: configured): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/admin/config?reason=faults", body=yaml_text.encode())
        r = conn.getresponse()
        return r.status, r.read().decode()
    except OSError as e:
        return 0, str(e)
    finally:
        conn.close()


def reloads(port, configs, failures, applied):
    """20 reloads alternating `configs`, one bad file after the 10th; appends what went wrong
    to `failures` and each applied seq to `applied`."""
    expected = 1
    for i in range(20):
        if i == 10:
            bad = configs[0].replace("children: [e500, ok]", "children: [e500, nope]")
            status, body = reload_config(port, bad)
            if status != 400 or not re.search(r"faults\.yaml:\d+: routes\[0\]", body):
                failures.append(f"bad config: {status} {body[:200]}")
        status, body = reload_config(port, configs[(i + 1) % 2])
        expected += 1
        seq = json.loads(body).get("seq") if status == 200 else None
        if seq != expected:
            failures.append(f"reload {i + 1}: {status} {body[:200]}")
        else:
            applied.append(seq)


def main():
    up_bin = os.path.join(BUILD, "bin", "triage-test-upstream")
    gw_bin = os.path.join(BUILD, "bin", "triage")
    tmp = tempfile.TemporaryDirectory(prefix="triage-faults-")
    up, up_port = start([up_bin, "--port", "0", "--threads", "2"])
    cfg_path = os.path.join(tmp.name, "faults.yaml")
    down_port = closed_port()
    with open(cfg_path, "w") as f:
        f.write(config(tmp.name, up_port, down_port))
    gw, gw_url = start([gw_bin, "serve", "-c", cfg_path], env={"FAULTS_KEY": SECRET},
                       pattern=rb"listening on (http://\S+)")
    gw_port = int(gw_url.rsplit(":", 1)[1].rstrip("/"))

    sent = []  # (scenario, result, check)
    configs = [config(tmp.name, up_port, down_port, v) for v in (0, 1)]
    reload_failures, applied = [], []
    reloader = threading.Thread(target=reloads, args=(gw_port, configs, reload_failures, applied))
    reloader.start()

    def run(scenario, model, check, stream=False, headers=None):
        r = send(gw_port, model, stream, headers)
        sent.append((scenario, r, check))
        return r

    for i in range(REPEAT):
        run("ok", "ok", answer_from("ok"))
        run("ok stream", "ok", answer_from("ok", True), stream=True)
        # 500: retried, then a clear 502; behind a fallback the next choice answers.
        run("500 fallback", "fb_500", answer_from("ok"))
        run("500 fallback stream", "fb_500", answer_from("ok", True), stream=True)
        # 429 asking for 30 s: not waited for; direct: a clear 429 with Retry-After.
        run("429 long retry-after", "r429_long", clear_error({429}, retry_after=True, max_s=2))
        run("429 long fallback", "fb_429", answer_from("ok"))
        # Recovers after one 503 / one 429 with Retry-After 1 s / one reset: the retry answers.
        run("503 then ok", f"rec{i}", answer_from(f"rec{i}"))
        run("429 retry-after then ok", f"ra{i}", answer_from(f"ra{i}"))
        run("reset then ok", f"rs{i}", answer_from(f"rs{i}"))
        # Garbage: not retried (it would not get better), clear 502; fallback answers.
        run("garbage", "garbage", clear_error({502}))
        run("garbage fallback", "fb_garbage", answer_from("ok"))
        # Slow past the deadline, hangs: 504 within the model's timeout; fallback answers.
        run("slow", "slow", clear_error({504}, max_s=2))
        run("hang", "hang", clear_error({504}, max_s=2))
        run("hang fallback", "fb_hang", answer_from("ok"))
        # Reset before any byte: retried, then a clear 502 (non-streamed and streamed); 503
        # with Retry-After once its circuit opened (each request makes 3 failed attempts).
        run("reset", "reset", clear_error({502, 503}))
        run("reset stream", "reset", clear_error({502, 503}), stream=True)
        # Reset during the stream: a clear SSE error event, never a silent truncated 200.
        run("cut stream", "cut", stream_error_event(), stream=True)
        # Down: connect errors retried, then 502 (or 503 once its circuit opened).
        run("down", "down", clear_error({502, 503}))
        run("down fallback", "fb_down", answer_from("ok"))
        # Two deployments, one down: the other answers every time.
        run("deployment down", "multi", answer_from("multi"))
        run("deployment down stream", "multi", answer_from("multi", True), stream=True)

    # The reloads ran beside the scenarios above; the breaker scenarios need a settled version
    # (each version starts with closed breakers: docs/config_versions.md).
    reloader.join()

    # Circuit breaker: 5 consecutive 503s open it; the next calls fail fast with Retry-After.
    for _ in range(5):
        run("breaker closed", "brk", clear_error({502, 503}))
    for _ in range(3):
        run("breaker open", "brk", clear_error({503}, retry_after=True, max_s=0.5))
    time.sleep(1.6)  # the cool-down passes; the probe still fails and the circuit re-opens
    run("breaker probe", "brk", clear_error({502, 503}))
    run("breaker reopened", "brk", clear_error({503}, retry_after=True, max_s=0.5))

    # Load shedding: one slot, 50 ms queue. Two at once: one answers, the other goes to the
    # overflow model; without an overflow model, 503 with Retry-After. Which of the two takes
    # the slot is up to the machine (the 0.15 s head start can be lost on a loaded one), so
    # each pair is judged as a pair: one result per outcome, in either order.
    def pair_of(results, scenarios):
        (sa, ca), (sb, cb) = scenarios
        ra, rb = results
        if not (ca(ra)[0] and cb(rb)[0]) and ca(rb)[0] and cb(ra)[0]:
            ra, rb = rb, ra
        sent.append((sa, ra, ca))
        sent.append((sb, rb, cb))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        a = pool.submit(send, gw_port, "narrow")
        time.sleep(0.15)
        b = pool.submit(send, gw_port, "narrow")
        pair_of((a.result(), b.result()),
                (("overflow busy", answer_from("narrow")), ("overflow", answer_from("ok"))))
        a = pool.submit(send, gw_port, "narrow_503")
        time.sleep(0.15)
        b = pool.submit(send, gw_port, "narrow_503")
        pair_of((a.result(), b.result()),
                (("shed busy", answer_from("narrow_503")),
                 ("shed 503", clear_error({503}, retry_after=True))))
        # Per-deployment slots: two at once take one deployment each; a third finds both
        # full and is shed after the 50 ms queue wait (any one of the three, by arrival).
        a = pool.submit(send, gw_port, "pair")
        b = pool.submit(send, gw_port, "pair")
        time.sleep(0.15)
        c = pool.submit(send, gw_port, "pair")
        results = sorted((a.result(), b.result(), c.result()), key=lambda r: r.status != 200)
        sent.append(("deployment slots", results[0], answer_from("pair")))
        sent.append(("deployment slots", results[1], answer_from("pair")))
        sent.append(("deployments full", results[2], clear_error({503}, retry_after=True)))

    # The client's deadline header bounds the call: slow-3000 answered 504 in ~0.3 s.
    run("client deadline", "slow", clear_error({504}, max_s=1.0),
        headers={"x-triage-timeout-ms": "300"})
    run("bad deadline header", "ok", clear_error({400}), headers={"x-triage-timeout-ms": "soon"})

    metrics = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=5)
    metrics.request("GET", "/metrics")
    metrics_text = metrics.getresponse().read().decode()

    gw.send_signal(signal.SIGTERM)
    gw_exit = gw.wait(timeout=30)
    up.send_signal(signal.SIGTERM)
    up.wait(timeout=10)

    rows = {}
    db = sqlite3.connect(os.path.join(tmp.name, "faults.db"))
    for rid, status, code in db.execute("SELECT request_id, status, error_code FROM requests"):
        rows.setdefault(rid, []).append((status, code))
    last = applied[-1] if applied else 1
    for rid, version in db.execute("SELECT request_id, config_version FROM requests"):
        if not isinstance(version, int) or not 1 <= version <= last:
            reload_failures.append(f"row {rid} has config_version {version!r}")
            break
    versions = [v for (v,) in db.execute("SELECT seq FROM config_versions ORDER BY seq")]
    if versions != list(range(1, last + 1)):
        reload_failures.append(f"config history {versions}")
    for f in reload_failures:
        print(f"faults: RELOAD {f}", file=sys.stderr)

    correct = clear = wrong = 0
    for row in db.execute("SELECT * FROM requests"):
        if any(isinstance(v, str) and SECRET in v for v in row):
            wrong += 1
            print("faults: WRONG the upstream key is in a store row", file=sys.stderr)
            break
    for scenario, r, check in sent:
        ok, is_clear, why = check(r)
        rid = r.headers.get("x-request-id", "")
        stored = rows.get(rid, [])
        if ok and len(stored) != 1:
            ok, why = False, f"{len(stored)} store rows for {rid!r}"
        elif ok:
            status, code = stored[0]
            client_error = r.status != 200 or is_clear
            if client_error and not code:
                ok, why = False, f"store row has no error_code (status {status})"
            if not client_error and (status != 200 or code):
                ok, why = False, f"store row says {status} {code} for a 200"
        if ok:
            correct += 1
            clear += 1 if is_clear else 0
        else:
            wrong += 1
            print(f"faults: WRONG {scenario}: {why}", file=sys.stderr)

    for needle in ("triage_upstream_retries_total{", "triage_circuit_transitions_total{",
                   "triage_load_shed_total{"):
        if needle not in metrics_text:
            wrong += 1
            print(f"faults: WRONG metrics: no {needle}", file=sys.stderr)
    leaked = [l for l in gw.output if SECRET.encode() in l]
    for _, r, _ in sent:
        if SECRET.encode() in r.body:
            leaked.append(r.body)
    if leaked:
        wrong += 1
        print(f"faults: WRONG the upstream key leaked: {leaked[0][:200]!r}", file=sys.stderr)
    warn_lines = [l for l in gw.output if b"upstream call failed" in l]
    if not warn_lines:
        wrong += 1
        print("faults: WRONG no upstream failure was logged", file=sys.stderr)
    if gw_exit != 0:
        wrong += 1
        print(f"faults: WRONG gateway exit status {gw_exit}", file=sys.stderr)

    print(f"faults: sent={len(sent)} correct={correct} clear_errors={clear} "
          f"wrong_or_lost={wrong} reload_failures={len(reload_failures)} "
          f"reloads={len(applied)}")
    return 1 if wrong or reload_failures else 0


if __name__ == "__main__":
    sys.exit(main())
