#!/usr/bin/env python3
"""Builds the CLINC150 realistic evaluation mix (docs/evaluation.md, CLINC150 section).

Deterministic: only shipped files in, fixed hash split, no randomness.

  in scope : every in-scope row of data/clinc150/val.jsonl (never trained on by make models)
  oos      : every `oos` row of data/clinc150/train.jsonl and val.jsonl (CLINC150's own), plus
             out-of-domain prompts from the other shipped datasets (MMLU, GSM8K, RouterBench
             ARC-C / Winogrande / MBPP), labelled `oos`: first sentence, lowercased, at most
             25 words (CLINC150 utterances are short and lowercase: the detector must not
             learn "long or capitalised means out of scope").
Split: a row is HELD OUT when fnv1a64("clinc-mix", text) % 100 < 30, else TRAIN. The held-out
part is scored once, after every choice was made by cross-validation on the train part.

Outputs (data/clinc150/):
  mix_train.jsonl     train part of the mix (CV folds: fnv1a64("clinc-fold", text) % 5)
  mix_heldout.jsonl   held-out part
  intent_train.jsonl  what `make models` trains the intent model on: the in-scope rows of
                      train.jsonl plus the oos rows of mix_train.jsonl (the oos class with
                      in-domain negatives); nothing of mix_heldout.jsonl.
"""
import csv
import json
import re
import sys
from pathlib import Path

HELD_OUT_PERCENT = 30
FOLDS = 5
OOD_PER_SOURCE = {  # how many prompts of each shipped dataset, smallest hash first
    "routellm/mmlu.csv": 350,
    "routellm/gsm8k.csv": 180,
    "routerbench/arc_challenge.csv": 60,
    "routerbench/winogrande.csv": 50,
    "routerbench/mbpp.csv": 40,
}
MAX_WORDS = 25

csv.field_size_limit(sys.maxsize)


def fnv1a64(seed: str, text: str) -> int:
    h = 1469598103934665603
    for b in (seed + "\0" + text).encode("utf-8"):
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def held_out(text: str) -> bool:
    return fnv1a64("clinc-mix", text) % 100 < HELD_OUT_PERCENT


def fold_of(text: str) -> int:
    return fnv1a64("clinc-fold", text) % FOLDS


def utterance(prompt: str) -> str:
    """A prompt cut to a CLINC-like utterance: first non-empty line, first sentence, lowercase,
    punctuation other than apostrophes removed, at most MAX_WORDS words."""
    line = next((l for l in prompt.splitlines() if l.strip()), "")
    sentence = re.split(r"(?<=[.?!])\s", line.strip(), maxsplit=1)[0]
    words = re.sub(r"[^\w' ]+", " ", sentence.lower()).split()
    return " ".join(words[:MAX_WORDS])


def read_jsonl(path: Path):
    with path.open(encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def write_jsonl(path: Path, rows):
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "intent": r["intent"]}, ensure_ascii=False) + "\n")


def ood_rows(data: Path):
    rows = []
    for rel, n in OOD_PER_SOURCE.items():
        with (data / rel).open(encoding="utf-8", newline="") as f:
            texts = {utterance(r["prompt"]) for r in csv.DictReader(f)}
        texts = sorted((t for t in texts if len(t.split()) >= 3), key=lambda t: (fnv1a64(rel, t), t))
        rows += [{"text": t, "intent": "oos"} for t in texts[:n]]
    return rows


def build(data: Path):
    train = read_jsonl(data / "clinc150/train.jsonl")
    val = read_jsonl(data / "clinc150/val.jsonl")
    mix = [r for r in val if r["intent"] != "oos"]
    mix += [r for r in train + val if r["intent"] == "oos"]
    mix += ood_rows(data)
    in_scope_train = {r["text"] for r in train if r["intent"] != "oos"}
    seen, rows = set(), []
    for r in mix:  # a text once; never one the intent model trains on in scope
        if r["text"] in seen or r["text"] in in_scope_train:
            continue
        seen.add(r["text"])
        rows.append(r)
    rows.sort(key=lambda r: (fnv1a64("clinc-order", r["text"]), r["text"]))
    mix_train = [r for r in rows if not held_out(r["text"])]
    mix_heldout = [r for r in rows if held_out(r["text"])]
    intent_train = [r for r in train if r["intent"] != "oos"] + [r for r in mix_train if r["intent"] == "oos"]
    return mix_train, mix_heldout, intent_train


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data")
    mix_train, mix_heldout, intent_train = build(root)
    out = root / "clinc150"
    write_jsonl(out / "mix_train.jsonl", mix_train)
    write_jsonl(out / "mix_heldout.jsonl", mix_heldout)
    write_jsonl(out / "intent_train.jsonl", intent_train)
    for name, rows in (("mix_train", mix_train), ("mix_heldout", mix_heldout), ("intent_train", intent_train)):
        oos = sum(r["intent"] == "oos" for r in rows)
        print(f"{name}: {len(rows)} rows, {oos} oos ({100.0 * oos / len(rows):.1f}%)")


if __name__ == "__main__":
    main()
