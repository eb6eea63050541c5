#!/usr/bin/env python3
"""The client side of `make rollout-demo` (scripts/rollout_demo.sh): replays CLINC150 queries
to the split routes `chat-good` and `chat-bad` of a running gateway, polls GET /admin/rollouts,
prints each rollout event as it happens (the timeline) and, when both rollouts have ended (or
after --timeout seconds), the last line:

  rollout: good=<state> bad=<state>

Exit 0 when good=promoted and bad=rolled_back, else 1.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

DONE = {"promoted", "rolled_back", "aborted"}


def connection(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def traffic(url, key, route, prompts, stop, counts, lock):
    conn = connection(url)
    i = 0
    while not stop.is_set():
        body = json.dumps({"model": route, "messages": [
            {"role": "user", "content": prompts[i % len(prompts)]}]})
        i += 1
        try:
            conn.request("POST", "/v1/chat/completions", body,
                         {"content-type": "application/json", "authorization": "Bearer " + key})
            r = conn.getresponse()
            body_text = r.read()
            outcome = "ok" if r.status == 200 else "failed"
            if r.status != 200 and r.status != 502 and counts[route]["failed"] == 0:
                print(f"  first failure on {route}: HTTP {r.status} {body_text[:300]!r}", file=sys.stderr)
        except (OSError, http.client.HTTPException) as e:
            if counts[route]["failed"] == 0:
                print(f"  first failure on {route}: {e!r}", file=sys.stderr)
            conn.close()
            conn = connection(url)
            outcome = "failed"
        with lock:
            counts[route][outcome] += 1


def rollouts(url, token):
    conn = connection(url)
    conn.request("GET", "/admin/rollouts", headers={"authorization": "Bearer " + token})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200:
        raise RuntimeError(f"GET /admin/rollouts: {r.status} {body[:200]!r}")
    return {o["route"]: o for o in json.loads(body)["data"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True, help="the admin token")
    ap.add_argument("--key", required=True, help="a client key")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--timeout", type=float, default=110)
    ap.add_argument("--clients", type=int, default=3, help="clients per route")
    args = ap.parse_args()
    with open(args.prompts) as f:
        prompts = [json.loads(line)["text"] for line in f if line.strip()]

    stop = threading.Event()
    lock = threading.Lock()
    counts = {r: {"ok": 0, "failed": 0} for r in ("chat-good", "chat-bad")}
    threads = [threading.Thread(target=traffic, args=(args.url, args.key, r, prompts, stop, counts, lock),
                                daemon=True)
               for r in counts for _ in range(args.clients)]
    for t in threads:
        t.start()
    start = time.time()
    seen = {}
    state = {}
    try:
        while time.time() - start < args.timeout:
            for route, o in sorted(rollouts(args.url, args.token).items()):
                state[route] = o["state"]
                events = o["events"]
                for e in events[seen.get(route, 0):]:
                    t = e["ts_ms"] / 1000.0 - start
                    print(f"  {max(t, 0):6.1f}s  {route:<9} {e['kind']:<11} "
                          f"{e['percent']:5.1f}%  {e['reason']}", flush=True)
                seen[route] = len(events)
            if all(state.get(r) in DONE for r in counts):
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=35)
    final = rollouts(args.url, args.token)
    for route in counts:
        o = final.get(route, {})
        weights = ", ".join(f"{k} {v:g}" for k, v in o.get("weights", {}).items())
        print(f"== {route}: {o.get('state')}; weights now: {weights}; client requests: "
              f"{counts[route]['ok']} ok, {counts[route]['failed']} failed")
    good = final.get("chat-good", {}).get("state")
    bad = final.get("chat-bad", {}).get("state")
    print(f"rollout: good={good} bad={bad}")
    return 0 if good == "promoted" and bad == "rolled_back" else 1


if __name__ == "__main__":
    sys.exit(main())
