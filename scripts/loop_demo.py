#!/usr/bin/env python3
"""`make loop-demo`: the retrain -> shadow -> promote loop on replayed recorded traffic
(docs/loop.md).

A real gateway (`triage serve`) routes MMLU prompts with a `threshold` router between two models
served by the real test upstream (`triage-test-upstream`). The recorded grades of RouteLLM's
MMLU data (Mixtral-8x7B = weak, GPT-4 Turbo = strong) stand in for reviewers.

  day 0: a router trained on a small slice of the training part serves (version v1);
  day d: a fresh slice of traffic goes through the gateway; a reviewer's tool labels it through
         the review API (POST /v1/review/{id}/label); when a candidate version ran as a
         decide_only shadow that day, the two versions' decisions are compared on that day's
         labelled traffic and the candidate is promoted (better routing quality, quality kept)
         or discarded with the reason; then `triage train router --from-store` trains the next
         candidate on everything labelled so far, and a config in which it shadows the serving
         router is applied (POST /admin/config, hot reload).
  promotion: a progressive rollout (docs/rollout.md): the promoted version becomes the
         candidate child of a `split` with a `rollout:` block, and the next day's traffic moves
         it through its steps while its gates hold (GET /admin/rollouts is polled between
         batches of requests); once `promoted`, the config that makes it the serving router
         alone is applied (the cut-over), and a `rolled_back` one leaves the old router serving.

Every score of day d comes from day d's slice, which no version had been trained on. Prints one
line per day and ends with
  loop: days=N cpi_first=X cpi_last=Y routing_quality_first=A routing_quality_last=B quality_loss_pts=C
Exit code 1 when the routing quality did not rise or the last day's quality is further below
the all-strong counterfactual than the error budget (--max-loss-pts; by default the first
day's distance: the loop must not buy routing quality with answer quality) (with --check).
"""
import argparse
import concurrent.futures as cf
import csv
import http.client
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

WEAK, STRONG = "mixtral-8x7b", "gpt-4-turbo"
SPLIT_SEED, TEST_BELOW = 20240601, 2000  # datasets/split.h defaults
_local = threading.local()


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def in_training_part(row_id):
    return fnv1a64(f"{SPLIT_SEED}:{row_id}") % 10000 >= TEST_BELOW


# ---- processes ---------------------------------------------------------------------------------

def start(cmd, out_path, ready, env=None):
    """Starts cmd with stdout to out_path; waits for the line starting with `ready`."""
    out = open(out_path, "w")
    err = open(out_path + ".err", "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
    for _ in range(400):
        with open(out_path) as f:
            for line in f:
                if line.startswith(ready):
                    return proc, line[len(ready):].strip()
        if proc.poll() is not None:
            sys.exit(f"{cmd[0]} exited: {open(out_path + '.err').read()}")
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"{cmd[0]} did not start")


# ---- HTTP --------------------------------------------------------------------------------------

def request(url, method, path, body=None, headers=None):
    conn = getattr(_local, "conn", None)
    if conn is None:
        u = urllib.parse.urlparse(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        _local.conn = conn
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    for attempt in range(2):
        try:
            conn.request(method, path, body, h)
            resp = conn.getresponse()
            return resp.status, resp.getheader("x-request-id"), resp.read()
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            _local.conn = conn = None
            if attempt:
                raise
            u = urllib.parse.urlparse(url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            _local.conn = conn


def send(url, row):
    body = json.dumps({"model": "mmlu", "messages": [{"role": "user", "content": row["prompt"]}]})
    status, rid, data = request(url, "POST", "/v1/chat/completions", body,
                                {"x-triage-category": row["subject"]})
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
    return rid, json.loads(data)["triage"]["model"]


def label(url, request_id, good, sufficient_tier=None):
    """A reviewer's label through the review API (a real HTTP call, as a reviewer's tool)."""
    body = {"verdict": "correct" if good else "incorrect", "reviewer": "loop-demo"}
    if sufficient_tier:
        body["sufficient_tier"] = sufficient_tier
    # A shadow's row ("<id>-s0") is written after its own call ends, which may be after the
    # served answer: a 404 ("no request with id") is retried until the row is stored (bounded).
    deadline = time.monotonic() + 30
    while True:
        status, _, data = request(url, "POST", f"/v1/review/{request_id}/label", json.dumps(body))
        if status != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if status != 200:
        raise RuntimeError(f"label {request_id}: HTTP {status}: {data[:200]!r}")


def apply_config(url, yaml_text, reason):
    status, _, data = request(url, "POST", "/admin/config", yaml_text.encode(),
                              {"Content-Type": "application/yaml", "x-triage-reason": reason})
    if status != 200:
        sys.exit(f"config refused: HTTP {status}: {data.decode()}")
    return json.loads(data)["seq"]


# ---- config ------------------------------------------------------------------------------------

# The promotion's rollout, scaled to the day's traffic by main() (steps, hold, least requests).
ROLLOUT = {"steps": [10, 50, 100], "hold_s": 0.5, "min_requests": 20}


def config_yaml(store, upstream_port, serving, candidate, share, rolling=None):
    """serving: the serving router's file; candidate: a decide_only shadow's; rolling: the
    router being rolled out (the candidate child of the split `live`)."""
    ep = f"http://127.0.0.1:{upstream_port}/v1"
    model = ("  - {{name: {n}, provider: openai, endpoint: \"{ep}\", api_key_env: LOOP_UPSTREAM_KEY, "
             "upstream_model: {n}, tier: {t}, prices: {{input: {pi}, output: {po}}}}}\n")
    y = ("server: {host: 127.0.0.1, port: 0, threads: 2}\n"
         f"store: {{type: sqlite, path: {store}, keep_payloads: true, flush_interval_ms: 20}}\n"
         "tiers: [small, large]\n"
         "models:\n"
         + model.format(n=WEAK, ep=ep, t="small", pi=0.24, po=0.24)
         + model.format(n=STRONG, ep=ep, t="large", pi=10.0, po=30.0)
         + "routes:\n"
         f"  - {{name: serving, type: threshold, scorer: {serving}, weak: {WEAK}, strong: {STRONG}, "
         f"strong_share: {share}}}\n")
    primary = "serving"
    if rolling:
        # The gates: the new router must not fail more requests, nor slow them down; its cost
        # may differ (it may rightly send more to the strong model), which the labels judge.
        y += (f"  - {{name: rolling, type: threshold, scorer: {rolling}, weak: {WEAK}, "
              f"strong: {STRONG}, strong_share: {share}}}\n"
              "  - name: live\n    type: split\n"
              "    children: [{route: serving, weight: 100}, {route: rolling, weight: 0}]\n"
              f"    rollout: {{candidate: rolling, steps: {ROLLOUT['steps']}, "
              f"hold_s: {ROLLOUT['hold_s']}, min_requests: {ROLLOUT['min_requests']}, "
              "evaluate_every_ms: 100, gates: {max_success_drop: 0.02, max_p95_ratio: 3.0}}\n")
        primary = "live"
    if candidate:
        y += (f"  - {{name: candidate, type: threshold, scorer: {candidate}, weak: {WEAK}, "
              f"strong: {STRONG}, strong_share: {share}}}\n"
              f"  - {{name: decide, type: shadow, primary: {primary}, candidates: [candidate], "
              "decide_only: true}\n")
        primary = "decide"
    # The weak model shadows every request: its answer, labelled, is what says whether the weak
    # tier would have done where the strong one served (docs/loop.md "From labels to pairs").
    y += f"  - {{name: mmlu, type: shadow, primary: {primary}, candidates: [{WEAK}]}}\n"
    return y


# ---- the loop ----------------------------------------------------------------------------------

# Fewer candidates than the shipped routers' defaults (3 folds, one category smoothing): a
# retrain takes seconds, as a daily job on a few thousand labels would. Another split seed:
# every row of the demo comes from the training part of the shipped split (seed 20240601), so
# that seed would leave the router's own held-out part empty.
TRAIN_OPTS = ["--folds", "3", "--category-smoothing", "10", "--seed", "7"]


def train(args, cmd):
    r = subprocess.run([args.triage, "train", "router"] + cmd + TRAIN_OPTS, capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"triage train router failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def version_of(model_path):
    with open(model_path + ".json") as f:
        return json.load(f)["router"]["version"]


def rollout_status(url):
    """The `live` split's rollout from GET /admin/rollouts, or None when there is none."""
    status, _, data = request(url, "GET", "/admin/rollouts")
    if status != 200:
        sys.exit(f"GET /admin/rollouts: HTTP {status}: {data.decode()}")
    return next((r for r in json.loads(data)["data"] if r["route"] == "live"), None)


def wait_for_hold(url, st):
    """A running step with enough candidate requests advances once its hold is over: waits for
    that evaluation (or any other change) so the replay does not outrun the clock."""
    if st["state"] != "running" or st["candidate_stats"]["requests"] < st["min_requests"]:
        return st
    # Generous: it returns as soon as the step changes; on a loaded machine the gateway's
    # evaluation can come seconds late, and a replay that outruns it ends the day mid-rollout.
    deadline = time.monotonic() + 3 * st["hold_s"] + 15
    step = st["step"]
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = rollout_status(url)
        if now is None or now["state"] != "running" or now["step"] != step:
            return now
    return st


def serve_day(ctx, rows, concurrency, on_rollout_end):
    """Sends the day's rows; returns [(row, request_id, answering model)]. While a rollout runs,
    in batches, polling it between them; when it ends, on_rollout_end(state) applies the
    config that follows (the cut-over, or the old router alone) and the rest of the day is
    served by that."""
    url = ctx["url"]
    batch = len(rows) if not ctx.get("rolling") else max(5, len(rows) // 25)
    out = []
    i = 0
    with cf.ThreadPoolExecutor(concurrency) as pool:
        while i < len(rows):
            part = rows[i:i + batch]
            i += len(part)
            answers = list(pool.map(lambda r: send(url, r), part))
            out += [(row, rid, model) for row, (rid, model) in zip(part, answers)]
            if ctx.get("rolling"):
                st = wait_for_hold(url, rollout_status(url))
                if st and st["state"] in ("promoted", "rolled_back"):
                    on_rollout_end(st)
                    batch = len(rows)
    return out


def label_day(url, served, concurrency):
    """The recorded grades stand in for the reviewer: the answer given is graded; a wrong weak
    answer that the strong model would have got right is labelled sufficient_tier large; where
    the strong model answered, the weak shadow's answer ("<id>-s0") is labelled as well."""
    jobs = []
    for row, rid, model in served:
        weak_ok, strong_ok = row["weak_correct"] == 1, row["strong_correct"] == 1
        if model == WEAK:
            jobs.append((rid, weak_ok, "large" if (not weak_ok and strong_ok) else None))
        else:
            jobs.append((rid, strong_ok, None))
            jobs.append((rid + "-s0", weak_ok, None))
    with cf.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda j: label(url, *j), jobs))
    return len(jobs)


def decisions(store, served):
    """From the store: each request's cost, the serving router's version and the shadow
    candidate's decision (typed span fields router_version / shadow_decision)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    out = {}
    ids = [rid for _, rid, _ in served]
    # The writer commits every 20 ms: wait (bounded) until every served row is stored.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = sum(db.execute("SELECT COUNT(*) FROM requests WHERE request_id IN "
                                f"({','.join('?' * len(ids[i:i + 500]))})", ids[i:i + 500])
                     .fetchone()[0] for i in range(0, len(ids), 500))
        if stored >= len(ids):
            break
        time.sleep(0.05)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        q = f"SELECT request_id, cost_usd, spans FROM requests WHERE request_id IN ({','.join('?' * len(chunk))})"
        for rid, cost, spans in db.execute(q, chunk):
            serving_version, cand = None, None
            for s in json.loads(spans):
                if s.get("kind") != "route":
                    continue
                if s.get("name") in ("serving", "rolling") and s.get("router_version"):
                    serving_version = s.get("router_version")  # whichever router served it
                elif s.get("name") == "candidate" and "shadow_decision" in s:
                    cand = (s["shadow_decision"] == STRONG, s.get("router_version"))
            out[rid] = (cost, serving_version, cand)
    db.close()
    return out


def paired_z(served, facts):
    """McNemar's statistic on the requests both routers decided: (b - c) / sqrt(b + c), where b
    counts decisions only the candidate got right and c those only the serving router got
    right. Above 1.645 the candidate is better at the 5% level (one-sided); a day of 500
    requests is too small to trust a difference of a few decisions."""
    b = c = 0
    for row, rid, model in served:
        if not facts[rid][2]:
            continue
        needed = row["strong_correct"] > row["weak_correct"]
        cand_right = facts[rid][2][0] == needed
        serving_right = (model == STRONG) == needed
        b += cand_right and not serving_right
        c += serving_right and not cand_right
    return 0.0 if b + c == 0 else (b - c) / (b + c) ** 0.5


def score(rows_and_strong):
    """Routing quality (strong chosen exactly where strong was needed: strong right, weak wrong,
    as `triage eval`'s routing_accuracy) and quality (the chosen model's recorded grade)."""
    n = len(rows_and_strong)
    agree = sum((to_strong == (r["strong_correct"] > r["weak_correct"])) for r, to_strong in rows_and_strong)
    quality = sum((r["strong_correct"] if s else r["weak_correct"]) for r, s in rows_and_strong)
    return agree / n, quality / n


def promote(ctx, candidate):
    """Promotion starts a progressive rollout of the candidate (split `live`, docs/rollout.md);
    the next day's traffic moves it, and end_rollout() cuts over or keeps the old router."""
    ctx["rolling"] = candidate
    ctx["lineage"] = candidate  # the next retrain builds on its rows, whatever the rollout says
    return apply_config(ctx["url"], config_yaml(ctx["store"], ctx["upstream_port"],
                                                ctx["serving"]["path"], None, ctx["share"],
                                                candidate["path"]),
                        f"loop-demo: roll out router {candidate['version']}")


def end_rollout(ctx, st, shadow):
    """The rollout of ctx["rolling"] ended (state `promoted` or `rolled_back`): applies the
    config without it, the rolled-out router serving alone when promoted (the cut-over), and
    keeps a shadow candidate that runs today."""
    rolling = ctx.pop("rolling")
    events = st["events"]
    ends = [i for i, e in enumerate(events) if e["kind"] == "ended"]
    events = events[ends[-1] + 1:] if ends else events  # this rollout's, not an earlier one's
    for e in events:
        print(f"    rollout {rolling['version']}: {e['kind']:<11} {e['percent']:5.1f}%  {e['reason']}")
    if st["state"] == "promoted":
        ctx["serving"] = rolling
        ctx["rollouts"]["promoted"] += 1
        why = f"loop-demo: cut over to router {rolling['version']}"
    else:
        ctx["rollouts"]["rolled_back"] += 1
        why = f"loop-demo: router {rolling['version']} rolled back"
    seq = apply_config(ctx["url"], config_yaml(ctx["store"], ctx["upstream_port"],
                                               ctx["serving"]["path"], shadow, ctx["share"]), why)
    print(f"  {why} (config version {seq})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default="data/routellm/mmlu.csv")
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--per-day", type=int, default=500)
    ap.add_argument("--initial", type=int, default=150, help="rows the day-1 router trains on")
    ap.add_argument("--strong-share", type=float, default=0.75)
    ap.add_argument("--min-labels", type=int, default=50)
    ap.add_argument("--max-loss-pts", type=float, default=None,
                    help="the error budget: the last day's quality may be at most this many pts "
                         "below all-strong (default: no more than on the first day)")
    ap.add_argument("--check", type=int, default=1, help="0: report only, never fail on the numbers")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--always-roll-out", action="store_true",
                    help="smoke tests only: roll out every candidate whatever the comparison says, "
                         "so a short run exercises the rollout path")
    ap.add_argument("--min-requests", type=int, default=None,
                    help="candidate requests a rollout step needs (default: per-day / 25, at "
                         "least 3)")
    ap.add_argument("--steps", default="10,50,100",
                    help="the rollout's candidate percents, comma-separated (default 10,50,100)")
    ap.add_argument("--work", help="scratch directory (default BUILD/loop_demo; emptied first)")
    args = ap.parse_args()
    args.triage = os.path.join(args.build, "bin", "triage")
    # 20 candidate requests per step at 500 a day; the first step (10%) then needs ~200 of them.
    ROLLOUT["min_requests"] = args.min_requests or max(3, args.per_day // 25)
    ROLLOUT["steps"] = [int(p) for p in args.steps.split(",")]
    work = os.path.abspath(args.work or os.path.join(args.build, "loop_demo"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "routers"))
    store = os.path.join(work, "triage.db")

    with open(args.data, newline="") as f:
        rows = [dict(r, weak_correct=int(float(r["weak_correct"])),
                     strong_correct=int(float(r["strong_correct"])))
                for r in csv.DictReader(f) if in_training_part(r["id"])]
    random.Random(args.seed).shuffle(rows)
    need = args.initial + args.days * args.per_day
    if need > len(rows):
        sys.exit(f"--initial + --days x --per-day = {need} > {len(rows)} training-part rows")
    initial, days = rows[:args.initial], [rows[args.initial + d * args.per_day:
                                               args.initial + (d + 1) * args.per_day]
                                          for d in range(args.days)]
    base = os.path.join(work, "initial.csv")
    with open(base, "w", newline="") as f:
        w = csv.DictWriter(f, ["id", "subject", "prompt", "weak_correct", "strong_correct"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(initial)
    v1 = os.path.join(work, "routers", "v1.bin")
    train(args, ["--dataset", base, "--out", v1])
    serving = {"path": v1, "version": version_of(v1), "rows": base}
    print(f"== day 0: router {serving['version']} trained on {len(initial)} rows of the training "
          f"part (RouteLLM MMLU; weak {WEAK}, strong {STRONG}; strong_share {args.strong_share})")

    upstream, port = start([os.path.join(args.build, "bin", "triage-test-upstream"), "--port", "0"],
                           os.path.join(work, "upstream.out"), "listening on ")
    cfg = os.path.join(work, "triage.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(store, port, v1, None, args.strong_share))
    env = dict(os.environ, LOOP_UPSTREAM_KEY="sk-loop-demo")
    gateway, url = start([args.triage, "serve", "-c", cfg], os.path.join(work, "serve.out"),
                         "triage: listening on ", env)
    ctx = {"url": url, "store": store, "upstream_port": port, "share": args.strong_share,
           "serving": serving, "lineage": serving, "rollouts": {"promoted": 0, "rolled_back": 0}}
    candidate = None
    per_day = []
    try:
        for d, slice_rows in enumerate(days, start=1):
            t0 = time.monotonic()
            shadow = candidate["path"] if candidate else None
            served = serve_day(ctx, slice_rows, args.concurrency,
                               lambda st, shadow=shadow: end_rollout(ctx, st, shadow))
            n_labels = label_day(url, served, max(2, args.concurrency // 4))
            facts = decisions(store, served)
            serving_pairs = [(row, model == STRONG) for row, _, model in served]
            rq, quality = score(serving_pairs)
            all_strong = sum(r["strong_correct"] for r in slice_rows) / len(slice_rows)
            cpi = sum(facts[rid][0] for _, rid, _ in served) / len(served)
            versions = sorted({facts[rid][1] for _, rid, _ in served})
            per_day.append((cpi, rq, quality, all_strong))
            print(f"day {d}: {len(served)} requests, {n_labels} labels; served by router "
                  f"{','.join(v or '?' for v in versions)}: CPI ${cpi:.6f}, quality {quality:.3f} vs "
                  f"all-strong {all_strong:.3f} ({(all_strong - quality) * 100:+.1f} pts), "
                  f"routing quality {rq:.3f}")
            if candidate:
                cand_pairs = [(row, facts[rid][2][0]) for row, rid, _ in served if facts[rid][2]]
                crq, cq = score(cand_pairs)
                z = paired_z(served, facts)
                line = (f"  shadow {candidate['version']} on day {d}'s labelled traffic: routing "
                        f"quality {crq:.3f} vs {rq:.3f} (paired z {z:.2f}), quality {cq:.3f} vs "
                        f"{quality:.3f}")
                better = z >= 1.645 and cq >= quality - 0.01
                if (better or args.always_roll_out) and not ctx.get("rolling"):
                    seq = promote(ctx, candidate)
                    print(line + f" -> promoted: rollout started (config version {seq})")
                else:
                    why = ("routing quality not significantly higher (z < 1.645)" if z < 1.645
                           else "quality more than 1 pt lower" if cq < quality - 0.01
                           else f"the rollout of {ctx['rolling']['version']} is not over")
                    print(line + f" -> discarded: {why}")
                candidate = None
            if d == len(days):
                break
            path = os.path.join(work, "routers", f"v{d + 1}.bin")
            report = train(args, ["--from-store", store, "--route", "mmlu", "--tiers", "small,large",
                                  "--base", ctx["lineage"]["rows"], "--min-labels",
                                  str(args.min_labels), "--compare", ctx["lineage"]["path"],
                                  "--strong-share", str(args.strong_share), "--out", path])
            candidate = {"path": path, "version": version_of(path), "rows": path + ".rows.csv"}
            pairs = next(l for l in report.splitlines() if l.startswith("labelled traffic"))
            rolling = ctx["rolling"]["path"] if ctx.get("rolling") else None
            seq = apply_config(url, config_yaml(store, port, ctx["serving"]["path"], path,
                                                args.strong_share, rolling),
                               f"loop-demo: shadow router {candidate['version']}")
            print(f"  retrained from the store: {pairs.split(': ', 1)[1]}")
            print(f"  router {candidate['version']} shadows {ctx['serving']['version']} "
                  f"(decide_only; config version {seq}) [{time.monotonic() - t0:.1f} s]")
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        upstream.terminate()
        upstream.wait(timeout=30)

    r = ctx["rollouts"]
    pending = f", 1 started with no traffic left ({ctx['rolling']['version']})" if ctx.get("rolling") else ""
    print(f"rollouts: promoted={r['promoted']} rolled_back={r['rolled_back']}{pending}")
    first, last = per_day[0], per_day[-1]
    loss = (last[3] - last[2]) * 100
    budget = args.max_loss_pts if args.max_loss_pts is not None else (first[3] - first[2]) * 100
    print(f"loop: days={len(per_day)} cpi_first={first[0]:.6f} cpi_last={last[0]:.6f} "
          f"routing_quality_first={first[1]:.3f} routing_quality_last={last[1]:.3f} "
          f"quality_loss_pts={loss:.1f}")
    if args.check and (last[1] <= first[1] or loss > budget + 1e-9):
        print(f"loop-demo FAILED: routing quality must rise ({first[1]:.3f} -> {last[1]:.3f}) and "
              f"the last day's quality stay within {budget:.1f} pts of all-strong "
              f"({loss:.1f})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
