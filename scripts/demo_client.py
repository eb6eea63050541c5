#!/usr/bin/env python3
"""Sends real prompts from the shipped datasets through a running Triage gateway's
OpenAI-compatible HTTP API, concurrently, and prints what came back per model.

Usage: demo_client.py --url http://127.0.0.1:PORT [--per-model N] [--concurrency C]
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


def connection(url):
    conn = getattr(_local, "conn", None)
    if conn is None:
        u = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        _local.conn = conn
    return conn


def call(url, model, prompt):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}]})
    for attempt in range(2):
        conn = connection(url)
        try:
            conn.request("POST", "/v1/chat/completions", body,
                         {"Content-Type": "application/json", "Authorization": "Bearer demo-key"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
            return model, resp.status, data
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            _local.conn = None
            if attempt:
                raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--per-model", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--data", default="data")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    with open(f"{args.data}/routellm/gsm8k.csv", newline="") as f:
        math = [r["prompt"] for r in csv.DictReader(f)]
    with open(f"{args.data}/clinc150/val.jsonl") as f:
        support = [json.loads(line)["text"] for line in f]
    jobs = [("support", p) for p in rng.sample(support, args.per_model)]
    jobs += [("mixtral-8x7b", p) for p in rng.sample(math, args.per_model)]
    jobs += [("gpt-4-turbo", p) for p in rng.sample(math, args.per_model)]
    rng.shuffle(jobs)

    started = time.monotonic()
    statuses = {}
    with ThreadPoolExecutor(args.concurrency) as pool:
        for model, status, data in pool.map(lambda j: call(args.url, *j), jobs):
            statuses.setdefault(model, {}).setdefault(status, 0)
            statuses[model][status] += 1
            if status != 200:
                print(f"  {model}: HTTP {status}: {data.get('error', {}).get('message')}",
                      file=sys.stderr)
    elapsed = time.monotonic() - started
    print(f"sent {len(jobs)} requests in {elapsed:.1f} s with {args.concurrency} concurrent clients")
    for model, by_status in sorted(statuses.items()):
        print(f"  {model:<14} " + ", ".join(f"HTTP {s}: {n}" for s, n in sorted(by_status.items())))
    return 0 if all(set(s) == {200} for s in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
