#!/usr/bin/env python3
"""The `triage eval` command-line contract (docs/evaluation.md), run as a user runs it: the real
binary on each shipped eval config, on the shipped data and on a user-made file of the same
format, checking the exit code, the documented top-level JSON keys and the plot files; and
that bad invocations fail with a message that says what to fix.

Usage: eval_contract.py TRIAGE_BINARY SOURCE_DIR   (the shipped models must be trained:
`make models`, which `make test` runs first)."""
import json
import os
import subprocess
import sys
import tempfile

TRIAGE, SRC = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([TRIAGE, "eval", *args], cwd=SRC, capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout, p.stderr


def fraction(v):
    return isinstance(v, (int, float)) and 0.0 <= v <= 1.0


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def check_clinc_mix_is_reproducible(tmp):
    """scripts/build_clinc_mix.py rebuilds the committed mix byte for byte from the shipped
    data; its two parts are disjoint and the held-out part is never trained on."""
    import shutil
    root = os.path.join(tmp, "mixdata")
    for rel in ("clinc150/train.jsonl", "clinc150/val.jsonl", "routellm/mmlu.csv",
                "routellm/gsm8k.csv", "routerbench/arc_challenge.csv",
                "routerbench/winogrande.csv", "routerbench/mbpp.csv"):
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copy(os.path.join(SRC, "data", rel), os.path.join(root, rel))
    p = subprocess.run([sys.executable, os.path.join(SRC, "scripts/build_clinc_mix.py"), root],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"build_clinc_mix.py failed: {p.stderr}")
    texts = {}
    for name in ("mix_train.jsonl", "mix_heldout.jsonl", "intent_train.jsonl"):
        with open(os.path.join(root, "clinc150", name), "rb") as a, \
             open(os.path.join(SRC, "data/clinc150", name), "rb") as b:
            built = a.read()
            check(built == b.read(), f"data/clinc150/{name} differs from what the builder makes")
        texts[name] = {json.loads(l)["text"] for l in built.decode().splitlines()}
    check(not texts["mix_heldout.jsonl"] & texts["mix_train.jsonl"], "mix parts overlap")
    check(not texts["mix_heldout.jsonl"] & texts["intent_train.jsonl"],
          "the intent model trains on held-out mix rows")


def evaluate(config, dataset, tmp, tag):
    plot = os.path.join(tmp, tag + ".png")
    code, out, err = run("-c", config, "--route", "default", "--dataset", dataset, "--sweep",
                         "--format", "json", "--plot", plot)
    check(code == 0, f"{tag}: exit {code}: {err.strip()[:300]}")
    if code != 0:
        return {}
    try:
        doc = json.loads(out)
    except json.JSONDecodeError as e:
        check(False, f"{tag}: stdout is not one JSON document ({e})")
        return {}
    check(os.path.exists(plot) and is_png(plot), f"{tag}: no PNG plot at {plot}")
    return doc


with tempfile.TemporaryDirectory() as tmp:
    # Weak/strong pairs: apgr, cpt50, cpt80 as fractions. On the shipped files (held-out part;
    # training is deterministic) the shipped models must keep the quality targets:
    # MMLU APGR >= 0.68 and CPT(80%) <= 60%; GSM8K APGR >= 0.72 and CPT(80%) <= 50%.
    targets = {"mmlu": (0.68, 0.60), "gsm8k": (0.72, 0.50)}
    for name, data in [("mmlu", "data/routellm/mmlu.csv"), ("gsm8k", "data/routellm/gsm8k.csv")]:
        doc = evaluate(f"examples/eval/{name}.yaml", data, tmp, name)
        if doc:
            for k in ("apgr", "cpt50", "cpt80"):
                check(fraction(doc.get(k)), f"{name}: {k} {doc.get(k)} (a fraction)")
            min_apgr, max_cpt80 = targets[name]
            check(fraction(doc.get("apgr")) and doc["apgr"] >= min_apgr,
                  f"{name}: apgr {doc.get('apgr')} below the target {min_apgr}")
            check(fraction(doc.get("cpt80")) and doc["cpt80"] <= max_cpt80,
                  f"{name}: cpt80 {doc.get('cpt80')} above the target {max_cpt80}")

    # Multi-model data: best_model, best_quality, cost_ratio_at_best_quality.
    for data in ("data/routerbench/arc_challenge.csv", "data/routerbench/winogrande.csv"):
        tag = os.path.basename(data).split(".")[0]
        doc = evaluate("examples/eval/routerbench.yaml", data, tmp, tag)
        if doc:
            check(doc.get("best_model") == "gpt-4-1106-preview", f"{tag}: best_model {doc.get('best_model')}")
            check(fraction(doc.get("best_quality")), f"{tag}: best_quality {doc.get('best_quality')}")
            r = doc.get("cost_ratio_at_best_quality", "absent")
            check(r is None or (isinstance(r, (int, float)) and r > 0),
                  f"{tag}: cost_ratio_at_best_quality {r}")
            if tag == "arc_challenge":
                # A DEVELOPMENT number (the best point of a sweep over the test part, which was
                # looked at while designing), kept as a regression bound; the honest number is
                # the cross-validated one below.
                check(isinstance(r, (int, float)) and r <= 0.40,
                      f"{tag}: cost_ratio_at_best_quality {r} above the target 0.40")

    def evaluate_cv(config, route, dataset, tag, *extra):
        code, out, err = run("-c", config, "--route", route, "--dataset", dataset, "--cv", "5",
                             "--format", "json", *extra)
        check(code == 0, f"{tag}: exit {code}: {err.strip()[:300]}")
        if code != 0:
            return {}
        doc = json.loads(out)
        cv = doc.get("cv") or {}
        check(cv.get("k") == 5 and len(cv.get("folds", [])) == 5, f"{tag}: cv {str(cv)[:200]}")
        folds = cv.get("folds", [])
        n_rows = doc["rows"]["evaluated"] if "rows" in doc else doc.get("n_rows")
        check(sum(f["n_score"] for f in folds) == n_rows,
              f"{tag}: held-out folds cover {sum(f['n_score'] for f in folds)} of {n_rows} rows")
        for k in ("pooled_quality", "pooled_reference_quality"):
            check(fraction(cv.get(k)), f"{tag}: cv {k} {cv.get(k)}")
        check(isinstance(cv.get("quality_gap", {}).get("sd"), float), f"{tag}: cv quality_gap")
        return cv

    # Knobs chosen by cross-validation (--cv 5; docs/evaluation.md "Honest numbers").
    # GSM8K (the rows the scorer held out): the pair's APGR per fold needs no choice.
    cv = evaluate_cv("examples/eval/gsm8k.yaml", "default", "data/routellm/gsm8k.csv", "gsm8k_cv")
    if cv:
        # Per fold APGR can exceed 1 (rows the weak model gets right and the strong one wrong).
        check(isinstance(cv.get("apgr"), dict) and cv["apgr"]["mean"] > 0.5,
              f"gsm8k_cv: apgr {cv.get('apgr')} (random routing: 0.5)")
    # RouterBench ARC-C: min_agree chosen on the TRAIN part (--split train), never the test part.
    # Measured: 0.8 pts below GPT-4 at 55% of its cost. The target (<= 40% at GPT-4 - 1
    # pt) is NOT reached by any agreement design on the train part; this bound guards what is.
    cv = evaluate_cv("examples/eval/routerbench.yaml", "agree4_arc",
                     "data/routerbench/arc_challenge.csv", "arc_cv", "--split", "train")
    if cv:
        check(cv["quality_gap"]["mean"] >= -0.01, f"arc_cv: quality gap {cv['quality_gap']}")
        check(cv["pooled_cost_ratio"] <= 0.60, f"arc_cv: pooled cost ratio {cv['pooled_cost_ratio']}")
    # A predict route's train part is its predictor's training data: refused.
    code, out, err = run("-c", "examples/eval/routerbench.yaml", "--route", "predict", "--dataset",
                         "data/routerbench/arc_challenge.csv", "--split", "train", "--cv", "5")
    check(code == 1 and "--split train" in err and out == "",
          f"predict --split train: exit {code}, stderr {err.strip()[:200]!r}")

    # Classifier on the HELD-OUT part of the CLINC150 realistic mix (20% out of scope; bands and
    # method chosen by CV on the train part, scripts/cv_clinc_bands.py). Issue 15's target:
    # >= 97% accuracy on >= 65% coverage of all queries, < 2% of oos queries answered in the use
    # band. The shipped CV-chosen point (neighbour-agreement confidence, use 0.94) meets it: CV
    # 65.0% at 98.3%, 1.88%; held out 66.4% at 98.6%, 0.8% (docs/evaluation.md).
    doc = evaluate("examples/eval/clinc150.yaml", "data/clinc150/mix_heldout.jsonl", tmp, "clinc150")
    if doc:
        check(doc.get("n_oos", 0) >= 0.15 * doc.get("n_rows", 1),
              f"clinc150: the mix has {doc.get('n_oos')} oos of {doc.get('n_rows')} rows")
        check(fraction(doc.get("use_band_coverage")) and doc["use_band_coverage"] >= 0.65,
              f"clinc150: coverage {doc.get('use_band_coverage')} below the target's 0.65")
        check(doc.get("calibration") == "isotonic+neighbor",
              f"clinc150: calibration {doc.get('calibration')!r}, expected the neighbour maps")
        check(fraction(doc.get("use_band_accuracy")) and doc["use_band_accuracy"] >= 0.97,
              f"clinc150: accuracy {doc.get('use_band_accuracy')}")
        check(fraction(doc.get("oos_answered_in_use_band_share"))
              and doc["oos_answered_in_use_band_share"] < 0.02,
              f"clinc150: oos answered in the use band {doc.get('oos_answered_in_use_band_share')}")
        for key in ("oos_in_use_band_share", "oos_in_flag_band_share",
                    "in_scope_use_band_coverage", "in_scope_use_band_accuracy"):
            check(fraction(doc.get(key)), f"clinc150: {key} {doc.get(key)}")
    check_clinc_mix_is_reproducible(tmp)

    # Any file in the same format: a user's own 400 MMLU rows (not the shipped file, so every
    # row is scored). Taken from the shipped file's held-out part: rows the router trained on
    # would be scored as well, and a router that searches its training prompts finds those.
    own = os.path.join(tmp, "own_mmlu.csv")
    import csv

    def held_out(row_id):  # the split of docs/evaluation.md: FNV-1a-64("20240601:<id>") % 10000 < 2000
        h = 14695981039346656037
        for b in ("20240601:" + row_id).encode():
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        return h % 10000 < 2000

    with open(os.path.join(SRC, "data/routellm/mmlu.csv"), newline="") as f:
        rows = list(csv.reader(f))
    test_rows = [r for r in rows[1:] if held_out(r[0])]
    with open(own, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + test_rows[::4][:400])
    doc = evaluate("examples/eval/mmlu.yaml", own, tmp, "own_mmlu")
    if doc:
        check(fraction(doc.get("apgr")), f"own_mmlu: apgr {doc.get('apgr')}")
        check(doc["rows"]["in_scorer_training"] == 0, f"own_mmlu: rows {doc['rows']}")
    # The same with rows the router trained on: eval counts them and warns.
    seen = os.path.join(tmp, "seen_mmlu.csv")
    train_rows = [r for r in rows[1:] if not held_out(r[0])]
    with open(seen, "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + train_rows[::40][:100])
    code, out, err = run("-c", "examples/eval/mmlu.yaml", "--route", "default", "--dataset", seen)
    check(code == 0 and "100 evaluated rows are among the scorer's training prompts" in out,
          f"seen_mmlu: exit {code}, stdout {out[:300]!r}")

    # Bad invocations: exit 1 and a message naming the problem; nothing on stdout.
    code, out, err = run("-c", "examples/eval/gsm8k.yaml", "--route", "default", "--dataset",
                         "data/routellm/gsm8k.csv", "--plot", os.path.join(tmp, "p.jpg"))
    check(code == 1 and "--plot takes a path ending in .svg or .png" in err and out == "",
          f"bad --plot: exit {code}, stderr {err.strip()[:200]!r}, stdout {out[:100]!r}")
    code, out, err = run("-c", "examples/eval/gsm8k.yaml", "--route", "defualt", "--dataset",
                         "data/routellm/gsm8k.csv")
    check(code != 0 and "defualt" in err, f"unknown route: exit {code}, stderr {err.strip()[:200]!r}")
    code, out, err = run("-c", "examples/eval/gsm8k.yaml", "--route", "default", "--dataset",
                         os.path.join(tmp, "missing.csv"))
    check(code != 0 and "missing.csv" in err, f"missing dataset: exit {code}, stderr {err.strip()[:200]!r}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
