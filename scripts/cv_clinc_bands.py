#!/usr/bin/env python3
"""Chooses the CLINC150 intent tier's OOS method and use band by 5-fold cross-validation on the
TRAIN part of the realistic mix (data/clinc150/mix_train.jsonl); never reads mix_heldout.jsonl.

Methods compared (same fastText hyperparameters, same isotonic calibration):
  clinc-oos : the recipe before the mix, trained on data/clinc150/train.jsonl (150 intents + its
              100 oos rows); one model, scored on every fold. Top-1 calibration only.
  mix-oos   : an `oos` class with negatives: the in-scope rows of train.jsonl plus the mix's
              train-part oos rows OUTSIDE the scored fold (so a fold's oos rows are never trained
              on when it is scored). Top-1 calibration only (`triage train intent --top1-only`).
  mix-oos-x3: the same with every oos row three times (the oos class weighted x3).
  mix-oos-nn: mix-oos's training rows, and the confidence calibrated on (top-1 probability,
              does the nearest training utterance have the predicted label) (the default of
              `triage train intent`, ml/intent_confidence.h).
For every use threshold of `triage eval`'s use_threshold_curve the counts are summed over the
5 folds. Criterion: among the thresholds with CV accuracy >= 97% of the use band and < 2% of the
oos rows answered there with an in-scope label, the one with the highest coverage of all
queries; then the method with the higher such coverage. Without a feasible threshold: the one
with the highest accuracy.

Usage: scripts/cv_clinc_bands.py TRIAGE_BINARY WORK_DIR   (about 4 min on one core)
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_clinc_mix import FOLDS, fold_of, read_jsonl, write_jsonl  # noqa: E402

ACC_TARGET, OOS_TARGET = 0.97, 0.02


def train(triage, train_file, val_file, out, neighbors=False):
    subprocess.run([triage, "train", "intent", "--train", str(train_file), "--val", str(val_file),
                    "--out", str(out)] + ([] if neighbors else ["--top1-only"]), check=True,
                   stdout=subprocess.DEVNULL)


def curve(triage, model, data_file, work):
    cfg = Path("examples/eval/clinc150.yaml").read_text()
    cfg = cfg.replace("../../models/intent.bin", str(model.resolve()))
    cfg_path = work / "cv.yaml"
    cfg_path.write_text(cfg)
    out = subprocess.run([triage, "eval", "-c", str(cfg_path), "--route", "default", "--dataset",
                          str(data_file), "--format", "json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def main():
    triage, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    train_rows = read_jsonl(Path("data/clinc150/train.jsonl"))
    mix = read_jsonl(Path("data/clinc150/mix_train.jsonl"))
    in_scope_train = [r for r in train_rows if r["intent"] != "oos"]
    folds = [[r for r in mix if fold_of(r["text"]) == k] for k in range(FOLDS)]
    results = {}
    shipped = work / "clinc-oos.bin"
    train(triage, "data/clinc150/train.jsonl", "data/clinc150/val.jsonl", shipped)
    for method in ("clinc-oos", "mix-oos", "mix-oos-x3", "mix-oos-nn"):
        sums = {}
        for k in range(FOLDS):
            fold_file = work / f"fold{k}.jsonl"
            write_jsonl(fold_file, folds[k])
            model = shipped
            if method.startswith("mix-oos"):
                copies = 3 if method.endswith("x3") else 1
                neighbors = method.endswith("nn")
                rows = in_scope_train + copies * [r for r in mix if r["intent"] == "oos" and fold_of(r["text"]) != k]
                tf = work / f"train{k}.jsonl"
                write_jsonl(tf, rows)
                model = work / f"{method}{k}.bin"
                train(triage, tf, fold_file, model, neighbors)
            j = curve(triage, model, fold_file, work)
            for p in j["use_threshold_curve"]:
                s = sums.setdefault(p["use"], {"n": 0, "right": 0, "oos_n": 0, "oos_answered": 0, "rows": 0, "oos_rows": 0})
                for key in ("n", "right", "oos_n", "oos_answered"):
                    s[key] += p[key]
                s["rows"] += j["n_rows"]
                s["oos_rows"] += j["n_oos"]
        results[method] = sums
    best = None
    for method, sums in results.items():
        print(f"\n{method}: use  coverage  accuracy  oos-in-use  oos-answered-in-use")
        for t, s in sorted(sums.items()):
            cov, acc = s["n"] / s["rows"], (s["right"] / s["n"] if s["n"] else 0.0)
            oos_use, oos_ans = s["oos_n"] / s["oos_rows"], s["oos_answered"] / s["oos_rows"]
            ok = acc >= ACC_TARGET and oos_ans < OOS_TARGET
            print(f"  {t:.2f}  {cov:7.1%}  {acc:8.2%}  {oos_use:9.1%}  {oos_ans:9.2%}  {'feasible' if ok else ''}")
            key = (ok, cov if ok else acc)
            if best is None or key > best[0]:
                best = (key, method, t, cov, acc, oos_ans)
    _, method, t, cov, acc, oos_ans = best
    print(f"\nchosen: {method}, use band {t:.2f}: CV coverage {cov:.1%}, accuracy {acc:.2%}, "
          f"oos answered in the use band {oos_ans:.2%}")


if __name__ == "__main__":
    main()
