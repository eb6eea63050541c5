# The two commands: `make demo` and `make test`. Both install what is missing (apt, npm),
# build once into build/, and train the shipped models when they are missing.
BUILD ?= build
JOBS ?= $(shell nproc)
TRIAGE := $(BUILD)/bin/triage
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release $(shell command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: all setup setup-build build models demo test bench bench-smoke clean fuzz asan tsan soak faults rollout-demo \
        loop-demo scale-test scale-capacity

all: build

setup:
	@scripts/setup.sh test

setup-build:
	@scripts/setup.sh build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Shipped models, trained in-process from the shipped data with fixed splits and seeds
# (docs/evaluation.md). Each rule reruns only when its data or the binary's trainer changes.
MODELS := models/intent.bin models/mmlu_router.bin models/gsm8k_router.bin \
          models/gsm8k_scorer.bin models/arc_router.bin models/winogrande_router.bin \
          models/routerbench_router.bin

# The intent tier: 150 intents + an `oos` class with out-of-scope negatives from the train part
# of the realistic mix (scripts/build_clinc_mix.py; method and bands chosen by
# scripts/cv_clinc_bands.py on that train part; data/clinc150/mix_heldout.jsonl is never trained on).
CLINC_MIX := data/clinc150/intent_train.jsonl data/clinc150/mix_train.jsonl data/clinc150/mix_heldout.jsonl
$(CLINC_MIX) &: scripts/build_clinc_mix.py data/clinc150/train.jsonl data/clinc150/val.jsonl \
                data/routellm/mmlu.csv data/routellm/gsm8k.csv data/routerbench/arc_challenge.csv \
                data/routerbench/winogrande.csv data/routerbench/mbpp.csv
	python3 scripts/build_clinc_mix.py data

# Writes models/intent.bin.refs.jsonl beside it: the reference utterances of its neighbour signal.
models/intent.bin: data/clinc150/intent_train.jsonl data/clinc150/val.jsonl src/ml/intent_trainer.cc \
                   src/ml/calibration.cc src/ml/intent_confidence.cc src/ml/tfidf_knn.cc | build
	@mkdir -p models
	$(TRIAGE) train intent --train data/clinc150/intent_train.jsonl --val data/clinc150/val.jsonl --out $@

ROUTER_TRAINER := src/train/train_router.cc src/train/cross_fit.cc src/train/train_common.cc \
                  src/ml/logistic.cc \
                  src/train/train_gain_router.cc src/ml/gain_router.cc src/ml/prompt_features.cc \
                  src/ml/byte_masks.cc src/ml/tfidf_knn.cc src/ml/gain_neighbors.cc

models/mmlu_router.bin: data/routellm/mmlu.csv $(ROUTER_TRAINER) | build
	@mkdir -p models
	$(TRIAGE) train router --dataset $< --out $@

models/gsm8k_router.bin: data/routellm/gsm8k.csv $(ROUTER_TRAINER) | build
	@mkdir -p models
	$(TRIAGE) train router --dataset $< --out $@

models/gsm8k_scorer.bin: data/routellm/gsm8k.csv | build
	@mkdir -p models
	$(TRIAGE) train cascade-scorer --dataset $< --response-column weak_response --label-column weak_correct --out $@

models/arc_router.bin: data/routerbench/arc_challenge.csv | build
	@mkdir -p models
	$(TRIAGE) train multi-router --dataset $< --out $@

models/winogrande_router.bin: data/routerbench/winogrande.csv | build
	@mkdir -p models
	$(TRIAGE) train multi-router --dataset $< --out $@

models/routerbench_router.bin: data/routerbench/arc_challenge.csv data/routerbench/winogrande.csv data/routerbench/mbpp.csv | build
	@mkdir -p models
	$(TRIAGE) train multi-router $(addprefix --dataset ,$^) --out $@

models: build $(MODELS)

demo: setup-build
	@$(MAKE) --no-print-directory models
	@scripts/demo.sh

# Progressive rollouts (docs/rollout.md): a good and a bad candidate on one real gateway with
# replayed traffic; ends with `rollout: good=promoted bad=rolled_back`. Not part of `make test`
# (a tiny run of it is: the rollout_demo_tiny test).
rollout-demo: setup-build
	@$(MAKE) --no-print-directory build
	@BUILD=$(BUILD) scripts/rollout_demo.sh

# The retrain -> shadow -> promote loop on replayed recorded traffic (docs/loop.md); not in
# `make test` (a short run of it is: ctest -R loop_demo). Ends with "loop: days=N ...".
loop-demo: setup-build
	@$(MAKE) --no-print-directory build
	@BUILD=$(BUILD) scripts/loop_demo.sh

test: setup
	@$(MAKE) --no-print-directory models
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 300

# Three replicas behind nginx on a throwaway PostgreSQL and Redis, with faults (SIGTERM, SIGKILL,
# PostgreSQL restarted), about 25 s (docs/scaling.md "Multi-replica test"); ends with
# "scale: replicas=3 requests=N stored_once=N limit_overshoot=0 lost=0 ...".
scale-test: setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target triage triage-test-upstream
	@python3 scripts/scale_test.py $(BUILD)

# One replica's throughput on PostgreSQL + Redis against SQLite + memory and nginx, the store
# writer's rows/s and Redis calls per request (docs/scaling.md "Capacity"); about 1 minute.
scale-capacity:
	@scripts/setup.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target triage triage-test-upstream unit_telemetry
	@python3 scripts/scale_test.py $(BUILD) --capacity

# The load benchmark, preceded by the router micro-benchmarks (they read the shipped models).
bench:
	@scripts/setup.sh bench
	@$(MAKE) --no-print-directory models
	cmake -S . -B $(BUILD) -DTRIAGE_BUILD_BENCH=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target bench_router_score
	@BUILD_DIR=$(BUILD) scripts/bench.sh

# The load benchmark's plumbing at its smallest settings (every field of the last line, the
# paired rounds' rows): about a minute; CI runs it (.ci/run). Not a performance check.
bench-smoke:
	@scripts/setup.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target triage triage-test-upstream
	@scripts/bench_smoke.sh

# Robustness (docs/robustness.md). Each runs its own set-up and uses its own build dir.
# fuzz: every libFuzzer target for FUZZ_SECONDS (default 60) each, clang-14, in build-fuzz.
fuzz:
	@scripts/setup.sh fuzz
	@scripts/fuzz.sh

# asan: the unit and integration suites under ASan+UBSan (build-asan).
asan:
	@scripts/setup.sh test
	@$(MAKE) --no-print-directory models
	@scripts/sanitize.sh address

# tsan: the concurrency-heavy tests under TSan (build-tsan).
tsan:
	@scripts/setup.sh test
	@scripts/sanitize.sh thread

# soak: mixed traffic against the real gateway for SOAK_MINUTES (default 30).
soak:
	@scripts/setup.sh test
	@$(MAKE) --no-print-directory build
	@python3 tests/soak/soak.py $(BUILD)

# faults: the fault-injection suite against the real gateway and upstream processes
# (docs/resilience.md); ends with "faults: sent=N correct=N clear_errors=N wrong_or_lost=0 ...".
faults:
	@scripts/setup.sh test
	@$(MAKE) --no-print-directory build
	@python3 tests/faults/faults.py $(BUILD)

clean:
	rm -rf $(BUILD) models build-fuzz build-asan build-tsan
