#!/usr/bin/env python3
"""GSM8K cascade by nested cross-validation over the WHOLE shipped file, with a cross-fitted
scorer (docs/evaluation.md, "GSM8K"): rows go to K folds by FNV-1a-64(prompt) mod K (the rule of
`triage eval --cv`); for each fold k a cascade scorer is trained on the other folds only
(`triage train cascade-scorer`, its own fit/calibration split inside them) and the route is swept
over fold k (`triage eval --sweep --split all`), so every row is scored by a scorer that never
trained on it. The threshold for fold k is then chosen on the OTHER folds' cross-fitted outcomes
by the criterion of `triage eval --cv` (cheapest threshold with quality >= the large model's
- 0.01; else the highest quality) and scored on fold k.

Usage: scripts/gsm8k_crossfit.py TRIAGE [--route default[,verified,...]] [--folds 5]
                                 [--config examples/eval/gsm8k.yaml]
Prints one JSON document for one route; for several, {"routes": [one document per route]}, the
fold scorers trained once and shared. Deterministic (fixed folds, fixed trainer seed)."""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile


def fnv1a64(s):
    h = 14695981039346656037
    for b in s.encode():
        h ^= b
        h = (h * 1099511628211) % (1 << 64)
    return h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("triage")
    ap.add_argument("--route", default="default")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--config", default="examples/eval/gsm8k.yaml")
    ap.add_argument("--dataset", default="data/routellm/gsm8k.csv")
    ap.add_argument("--tolerance", type=float, default=0.01)
    a = ap.parse_args()
    src = os.getcwd()
    with open(a.dataset, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    fold_of = [fnv1a64(r["prompt"]) % a.folds for r in rows]
    routes = a.route.split(",")
    # per route, per fold: {threshold: (quality_sum, cost_sum, strong_sum)}, strong (q, cost), n
    per_route = {r: [] for r in routes}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(a.folds):
            train_csv, test_csv = os.path.join(tmp, f"train{k}.csv"), os.path.join(tmp, f"test{k}.csv")
            for path, keep in ((train_csv, lambda f: f != k), (test_csv, lambda f: f == k)):
                with open(path, "w", newline="") as out:
                    w = csv.DictWriter(out, fieldnames=header)
                    w.writeheader()
                    w.writerows(r for r, f in zip(rows, fold_of) if keep(f))
            scorer = os.path.join(tmp, f"scorer{k}.bin")
            subprocess.run([a.triage, "train", "cascade-scorer", "--dataset", train_csv,
                            "--response-column", "weak_response", "--label-column", "weak_correct",
                            "--out", scorer], check=True, capture_output=True)
            cfg_text = open(a.config).read()
            cfg_text = cfg_text.replace("../../models/gsm8k_scorer.bin", scorer)
            cfg_text = cfg_text.replace("../../data/", os.path.join(src, "data") + "/")
            cfg_text = cfg_text.replace("../../models/", os.path.join(src, "models") + "/")
            cfg = os.path.join(tmp, f"gsm8k{k}.yaml")
            open(cfg, "w").write(cfg_text)
            for route in routes:
                per_route[route].append(sweep_fold(a.triage, cfg, route, test_csv, k))
    docs = [summarize(route, per_route[route], a) for route in routes]
    print(json.dumps(docs[0] if len(docs) == 1 else {"routes": docs}, indent=1))


def sweep_fold(triage, cfg, route, test_csv, k):
    """The route swept over fold k with the fold's scorer: its points and baselines, as sums."""
    p = subprocess.run([triage, "eval", "-c", cfg, "--route", route, "--dataset", test_csv,
                        "--sweep", "--split", "all", "--format", "json"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"eval of {route} on fold {k} failed: {p.stderr.strip()}")
    doc = json.loads(p.stdout)
    assert doc["rows"]["in_scorer_training"] == 0
    n = doc["rows"]["evaluated"]
    pts = {round(pt["threshold"], 6): (pt["quality"] * n, pt["cost_usd"], pt["strong_share"] * n)
           for pt in doc["points"]}
    s = doc["baselines"]["all_strong"]
    wk = doc["baselines"]["all_weak"]
    return {"n": n, "points": pts, "strong": (s["quality"] * n, s["cost_usd"]),
            "weak_q": wk["quality"] * n}


def summarize(route, per_fold, a):
    """Per fold the threshold chosen on the other folds and scored on it; the pooled curve."""
    grid = sorted(set.intersection(*(set(f["points"]) for f in per_fold)))

    def choose(folds):
        n = sum(f["n"] for f in folds)
        ref_q = sum(f["strong"][0] for f in folds) / n
        best, best_q = None, None
        for t in grid:
            q = sum(f["points"][t][0] for f in folds) / n
            c = sum(f["points"][t][1] for f in folds)
            if q >= ref_q - a.tolerance - 1e-12 and (best is None or c < best[1]):
                best = (t, c)
            if best_q is None or q > best_q[1]:
                best_q = (t, q)
        return (best[0], True) if best else (best_q[0], False)

    out_folds, tq, tc, rq, rc, n_all = [], 0, 0, 0, 0, 0
    for k, f in enumerate(per_fold):
        t, reached = choose([g for j, g in enumerate(per_fold) if j != k])
        q, c, _ = f["points"][t]
        out_folds.append({"fold": k, "n": f["n"], "threshold": t, "reached": reached,
                          "quality": q / f["n"], "strong_quality": f["strong"][0] / f["n"],
                          "gap_pts": 100 * (q - f["strong"][0]) / f["n"],
                          "cost_ratio": c / f["strong"][1]})
        tq, tc, rq, rc, n_all = tq + q, tc + c, rq + f["strong"][0], rc + f["strong"][1], n_all + f["n"]
    # The operating point for new data: chosen on all folds' cross-fitted outcomes.
    t_all, reached_all = choose(per_fold)
    # The pooled curve over all rows (cross-fitted): quality and cost ratio per threshold.
    curve = []
    for t in grid:
        q = sum(f["points"][t][0] for f in per_fold) / n_all
        c = sum(f["points"][t][1] for f in per_fold) / rc
        sh = sum(f["points"][t][2] for f in per_fold) / n_all
        curve.append({"threshold": t, "quality": q, "cost_ratio": c, "strong_share": sh})
    gaps = [f["gap_pts"] for f in out_folds]
    ratios = [f["cost_ratio"] for f in out_folds]
    mean = lambda v: sum(v) / len(v)
    sd = lambda v: (sum((x - mean(v)) ** 2 for x in v) / (len(v) - 1)) ** 0.5
    return {
        "route": route, "folds": a.folds, "rows": n_all,
        "fold_rule": f"FNV-1a-64(prompt) mod {a.folds}",
        "scorer": "cross-fitted: fold k scored by a scorer trained on the other folds only",
        "weak_quality": sum(f["weak_q"] for f in per_fold) / n_all,
        "strong_quality": rq / n_all,
        "per_fold": out_folds,
        "gap_pts": {"mean": mean(gaps), "sd": sd(gaps)},
        "cost_ratio": {"mean": mean(ratios), "sd": sd(ratios)},
        "pooled": {"quality": tq / n_all, "strong_quality": rq / n_all, "cost_ratio": tc / rc},
        "chosen_on_all": {"threshold": t_all, "reached": reached_all},
        "curve": curve}


if __name__ == "__main__":
    sys.exit(main())
