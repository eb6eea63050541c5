#!/usr/bin/env python3
"""Sends the demo's routed workload through a running Triage gateway's OpenAI-compatible HTTP
API, concurrently, and prints what came back per route.

  - support: CLINC150 validation queries (data/clinc150/val.jsonl; the intent model never
    trained on them) to the `support` route;
  - math: GSM8K problems (data/routellm/gsm8k.csv) to the `math` route. By default only the
    held-out TEST part of the fixed split the cascade scorer was trained with (the rule in
    models/gsm8k_scorer.bin.json: FNV-1a-64("<seed>:<id>") % 10000 < 2000, 184 problems), so the
    scorer never saw them; --math-split all samples from the whole file.

Fixed seed: the same prompts every run. Usage:
  demo_client.py --url http://127.0.0.1:PORT [--support N] [--math N] [--concurrency C]
"""
import argparse
import csv
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

_local = threading.local()
SPLIT_SEED = 20240601  # offline/split.h defaults, as recorded in the scorer's metadata
TEST_BELOW = 2000


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def is_test(row_id):
    return fnv1a64(f"{SPLIT_SEED}:{row_id}") % 10000 < TEST_BELOW


def connection(url):
    conn = getattr(_local, "conn", None)
    if conn is None:
        u = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        _local.conn = conn
    return conn


def call(url, route, prompt):
    body = json.dumps({"model": route, "messages": [{"role": "user", "content": prompt}]})
    for attempt in range(2):
        conn = connection(url)
        try:
            conn.request("POST", "/v1/chat/completions", body,
                         {"Content-Type": "application/json", "Authorization": "Bearer demo-key"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
            return route, resp.status, data
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            _local.conn = None
            if attempt:
                raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--support", type=int, default=300, help="CLINC150 queries to `support`")
    ap.add_argument("--math", type=int, default=200,
                    help="GSM8K problems to `math` (at most the size of --math-split)")
    ap.add_argument("--math-split", choices=["test", "all"], default="test")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--data", default="data")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    with open(f"{args.data}/routellm/gsm8k.csv", newline="") as f:
        math = [r["prompt"] for r in csv.DictReader(f)
                if args.math_split == "all" or is_test(r["id"])]
    with open(f"{args.data}/clinc150/val.jsonl") as f:
        support = [json.loads(line)["text"] for line in f]
    jobs = [("support", p) for p in rng.sample(support, min(args.support, len(support)))]
    jobs += [("math", p) for p in rng.sample(math, min(args.math, len(math)))]
    rng.shuffle(jobs)

    started = time.monotonic()
    statuses = {}
    synthesized = {}
    with ThreadPoolExecutor(args.concurrency) as pool:
        for route, status, data in pool.map(lambda j: call(args.url, *j), jobs):
            statuses.setdefault(route, {}).setdefault(status, 0)
            statuses[route][status] += 1
            if status != 200:
                print(f"  {route}: HTTP {status}: {data.get('error', {}).get('message')}",
                      file=sys.stderr)
            elif data.get("triage", {}).get("synthesized"):
                synthesized[route] = synthesized.get(route, 0) + 1
    elapsed = time.monotonic() - started
    print(f"sent {len(jobs)} requests in {elapsed:.1f} s with {args.concurrency} concurrent clients")
    for route, by_status in sorted(statuses.items()):
        extra = f" ({synthesized[route]} synthesized placeholders)" if route in synthesized else ""
        print(f"  {route:<8} " + ", ".join(f"HTTP {s}: {n}" for s, n in sorted(by_status.items()))
              + extra)
    return 0 if all(set(s) == {200} for s in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
