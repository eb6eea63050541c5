"""`make scale-capacity` (scripts/scale_test.py --capacity; docs/scaling.md "Capacity"): the
numbers the capacity plan is computed from, measured in one sitting on this machine.

  - throughput of one replica (1 I/O thread) on the plain proxied path with a client key that
    has limits and a budget: PostgreSQL store + Redis limits, against SQLite + in-memory limits,
    and nginx proxying to the same test upstream (the floor, as scripts/bench.sh does). Every
    SUT is pinned to CPU 1; wrk and the upstream share CPU 0; PostgreSQL and Redis float.
  - Redis calls per request (INFO commandstats before and after the PostgreSQL+Redis run);
  - the store writer's sustained rows/s into PostgreSQL in full batches of 512: PostgreSQL is
    stopped, wrk fills the replica's queue, PostgreSQL is started and the time to empty the
    queue is measured (with the server's CPU per row); and PgStoreTest.DISABLED_Throughput
    (unit_telemetry, 100,000 rows) when built.

Ends with one line: capacity: nginx_rps=.. pg_redis_rps=.. sqlite_memory_rps=.. ...
"""
import hashlib
import os
import re
import subprocess
import time

import cluster as C

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOAD = os.path.join(ROOT, "bench", "load")
DUR_S = int(os.environ.get("CAPACITY_DUR", "5"))
WARM_S = 2
CONC = int(os.environ.get("CAPACITY_CONC", "16"))
SUT_CPU, LOAD_CPU = 1, 0
KEY = "sk-bench"  # what bench/load/post.lua presents


def say(msg):
    print(f"capacity: {msg}", flush=True)


def replica_yaml(up_port, store, limits):
    return (
        "server: {host: 127.0.0.1, port: 0, threads: 1, log_level: warn}\n"
        f"store: {store}\n"
        "models:\n"
        f"  - {{name: gpt-4o-mini, provider: openai, endpoint: \"http://127.0.0.1:{up_port}/v1\", "
        "api_key_env: BENCH_UPSTREAM_KEY, upstream_model: gpt-4o-mini, tier: small, "
        "prices: {input: 0.15, output: 0.6}}\n"
        "auth:\n"
        "  keys:\n"
        f"    - {{name: bench, sha256: {hashlib.sha256(KEY.encode()).hexdigest()}, "
        "requests_per_minute: 1000000000, "
        "tokens_per_minute: 1000000000000, usd_per_day: 1000000}\n"
        + (f"limits: {limits}\n" if limits else ""))


def wrk(url, seconds, conc=CONC):
    out = subprocess.run(["taskset", "-c", str(LOAD_CPU), "wrk", "-t2", f"-c{conc}",
                          f"-d{seconds}s", "--latency", "-s", os.path.join(LOAD, "post.lua"), url],
                         capture_output=True, text=True, env={**os.environ, "STREAM": "0"})
    m = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no RESULT: {out.stdout[-500:]}{out.stderr[-500:]}")
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def postgres_cpu_s(pg):
    """utime + stime so far of this server's postmaster and its children (clock ticks from
    /proc/PID/stat; a backend that exits between two readings takes its share with it)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        main = f.readline().strip()
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", main], capture_output=True,
                              text=True).stdout.split()
    ticks = 0
    for pid in [main, *children]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def queue_empty(rep, timeout_s=60):
    """Waits until the replica's store has committed everything it accepted; seconds taken."""
    t0 = time.monotonic()
    # Every 100 ms: a /metrics scrape costs the replica CPU that would count against it.
    if not C.wait_for(lambda: C.metric(rep.metrics(), "triage_store_queued") == 0, timeout_s,
                      0.1):
        raise RuntimeError(f"the store queue did not empty within {timeout_s} s")
    return time.monotonic() - t0


def measure(name, port, proc):
    """wrk through one SUT. For a replica, its CPU per request is counted from an empty store
    queue to an empty queue again, so the rows' writing is in it even when the writer fell
    behind during the run."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    replica = isinstance(proc, C.Replica)
    warm = wrk(url, WARM_S)
    if replica:
        queue_empty(proc)
    cpu0 = proc.cpu_seconds()
    r = wrk(url, DUR_S)
    r["all_requests"] = warm["requests"] + r["requests"]  # warm-up included
    behind = ""
    if replica:
        queued = C.metric(proc.metrics(), "triage_store_queued")
        behind = f"; {queued:.0f} rows queued at the end, written {queue_empty(proc):.1f} s later"
    r["cpu_us_per_req"] = (proc.cpu_seconds() - cpu0) * 1e6 / max(1, r["requests"])
    errors = int(r["non2xx"] + r["sockerr"])
    say(f"{name:14s} {r['rps']:6.0f} req/s  p50 {r['p50_us'] / 1000:5.2f} ms  p99 "
        f"{r['p99_us'] / 1000:6.2f} ms  SUT CPU {r['cpu_us_per_req']:5.1f} us/req  errors "
        f"{errors}{behind}")
    if errors:
        raise RuntimeError(f"{name}: {errors} errors under load")
    return r


def writer_drain(pg, replica, port):
    """Rows/s the replica's writer commits into PostgreSQL from a full queue."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    if not pg.stop("fast"):
        raise RuntimeError("pg_ctl stop failed")
    wrk(url, DUR_S)
    queued = C.metric(replica.metrics(), "triage_store_queued") or 0
    written0 = C.metric(replica.metrics(), "triage_store_written_total") or 0
    pg.start()
    # The writer retries with a backoff of up to 5 s: time from its first commit, not from the
    # start, so the backoff is not counted against it.
    if not C.wait_for(lambda: (C.metric(replica.metrics(), "triage_store_written_total") or 0)
                      > written0, 15, 0.005):
        raise RuntimeError("the writer did not reconnect within 15 s")
    t0, pg_cpu0, cpu0 = time.monotonic(), postgres_cpu_s(pg), replica.cpu_seconds()
    lsn0 = pg.psql("SELECT pg_current_wal_lsn()")[0][0]
    w0 = C.metric(replica.metrics(), "triage_store_written_total")
    if not C.wait_for(lambda: C.metric(replica.metrics(), "triage_store_queued") == 0, 60, 0.005):
        raise RuntimeError("the queue did not empty within 60 s")
    dt = time.monotonic() - t0
    rows = C.metric(replica.metrics(), "triage_store_written_total") - w0
    dropped = C.metric(replica.metrics(), "triage_store_dropped_total") or 0
    pg_us = (postgres_cpu_s(pg) - pg_cpu0) * 1e6 / max(1, rows)
    writer_us = (replica.cpu_seconds() - cpu0) * 1e6 / max(1, rows)
    wal = float(pg.psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn0}')")[0][0])
    n, table, total = pg.psql("SELECT COUNT(*), pg_total_relation_size('requests'), "
                              "pg_database_size('triage') FROM requests")[0]
    say(f"postgres: {wal / max(1, rows):.0f} WAL bytes per row committed; requests table with "
        f"its indexes {int(table) / int(n):.0f} bytes per row ({n} rows; whole database "
        f"{int(total) / 2**20:.0f} MiB)")
    say(f"writer drain: {queued:.0f} rows queued while PostgreSQL was away; {rows:.0f} committed "
        f"in {dt:.2f} s = {rows / dt:.0f} rows/s (batches of 512); CPU per row: PostgreSQL "
        f"{pg_us:.1f} us, the replica (its writer) {writer_us:.1f} us; dropped {dropped:.0f}")
    return rows / dt, pg_us


def unit_throughput(build):
    binary = os.path.join(build, "bin", "unit_telemetry")
    if not os.access(binary, os.X_OK):
        binary = os.path.join(build, "tests", "unit_telemetry")
    if not os.access(binary, os.X_OK):
        say("unit_telemetry not built: PgStoreTest.DISABLED_Throughput skipped")
        return None
    r = subprocess.run([binary, "--gtest_also_run_disabled_tests",
                        "--gtest_filter=PgStoreTest.DISABLED_Throughput"], capture_output=True,
                       text=True, timeout=600)
    m = re.search(r"PgStore: .*= (\d+) rows/s.*", r.stdout)
    say(m.group(0) if m else
        f"PgStoreTest.DISABLED_Throughput printed no figure: {r.stdout[-300:]}")
    return float(m.group(1)) if m else None


def start_nginx(cl, up_port):
    """bench/load/nginx.conf (a plain keep-alive proxy to the upstream), pinned to SUT_CPU."""
    d = os.path.join(cl.dir, "nginx")
    os.makedirs(os.path.join(d, "tmp"))
    os.chmod(cl.dir, 0o755)  # nginx's workers run as another user
    port = C.free_port()
    with open(os.path.join(LOAD, "nginx.conf")) as f:
        conf = f.read()
    for k, v in (("@PREFIX@", d), ("@LISTEN_PORT@", port), ("@UPSTREAM_PORT@", up_port)):
        conf = conf.replace(k, str(v))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    nginx = cl.own(C.Process(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
                              os.path.join(d, "error.log")], os.path.join(cl.dir, "nginx.log"),
                             "", cpu=SUT_CPU)).start()
    if not C.wait_for(lambda: C.http_call(port, "GET", "/", timeout=1)[0] != 0, 10):
        raise RuntimeError("nginx did not start: " + nginx.log_text()[-1000:])
    return nginx, port


def start_replicas(cl, triage, up_port, pg, redis):
    """{"pg+redis": Replica, "sqlite+memory": Replica}, each pinned to SUT_CPU."""
    replicas = {}
    for name, store, limits in (
            ("pg+redis", f"{{type: postgres, url: '{pg.url()}', batch_size: 512}}",
             f"{{backend: redis, redis_url: \"{redis.url()}\"}}"),
            ("sqlite+memory", f"{{type: sqlite, path: {cl.dir}/capacity.db}}", "")):
        cfg = os.path.join(cl.dir, name.replace("+", "-") + ".yaml")
        with open(cfg, "w") as f:
            f.write(replica_yaml(up_port, store, limits))
        rep = C.Replica(triage, cfg, C.free_port(), cfg + ".log", {"BENCH_UPSTREAM_KEY": "sk-up"},
                        SUT_CPU)
        replicas[name] = cl.own(rep).start()
    return replicas


def measure_with_redis(redis, rep):
    """measure() on the PostgreSQL + Redis replica, with Redis's calls and CPU around it."""
    stats0, redis_cpu0 = redis.commandstats(), redis.cpu_seconds()
    r = measure("pg+redis", rep.port, rep)
    stats1, redis_cpu = redis.commandstats(), redis.cpu_seconds() - redis_cpu0
    calls = {k: v[0] - stats0.get(k, (0, 0))[0] for k, v in stats1.items()}
    n = max(1, r["all_requests"])  # the warm-up's requests are counted too
    r["evalsha_per_req"] = calls.get("evalsha", 0) / n
    inner = sum(v for k, v in calls.items() if k not in ("evalsha", "info")) / n
    script_us = (stats1["evalsha"][1] - stats0.get("evalsha", (0, 0))[1]) / n
    r["redis_us"] = redis_cpu * 1e6 / n
    say(f"redis: {n:.0f} requests sent {calls.get('evalsha', 0)} EVALSHA = "
        f"{r['evalsha_per_req']:.2f} per request (pipelined by the replica's client thread), "
        f"running {inner:.1f} commands inside the scripts per request; script time "
        f"{script_us:.1f} us, redis-server CPU {r['redis_us']:.1f} us per request ("
        f"{', '.join(f'{k} {v}' for k, v in sorted(calls.items()) if v)})")
    return r


def run(build, keep=False):
    triage = os.path.join(build, "bin", "triage")
    upstream = os.path.join(build, "bin", "triage-test-upstream")
    with C.Cluster(keep) as cl:
        pg = cl.own(C.Postgres(cl.dir))
        redis = cl.own(C.Redis(cl.dir))
        up = cl.own(C.Process([upstream, "--port", "0", "--threads", "1"],
                              os.path.join(cl.dir, "upstream.log"), r"listening on (\d+)",
                              cpu=LOAD_CPU)).start()
        up_port = int(up.match.group(1))
        nginx, nginx_port = start_nginx(cl, up_port)
        replicas = start_replicas(cl, triage, up_port, pg, redis)
        say(f"{os.cpu_count()} CPUs, {cpu_model()}; load average {load_avg()}; wrk -t2 -c{CONC} "
            f"{DUR_S} s after {WARM_S} s of warm-up; SUT pinned to CPU {SUT_CPU}, wrk and upstream "
            f"to CPU {LOAD_CPU}")
        ng = measure("nginx", nginx_port, nginx)
        pr = measure_with_redis(redis, replicas["pg+redis"])
        sm = measure("sqlite+memory", replicas["sqlite+memory"].port, replicas["sqlite+memory"])
        drain_rps, pg_us = writer_drain(pg, replicas["pg+redis"], replicas["pg+redis"].port)
        unit_rps = unit_throughput(build)
        say(f"load average after: {load_avg()}")
        print(f"capacity: nginx_rps={ng['rps']:.0f} pg_redis_rps={pr['rps']:.0f} "
              f"sqlite_memory_rps={sm['rps']:.0f} pg_redis_vs_nginx={pr['rps'] / ng['rps']:.2f} "
              f"sqlite_memory_vs_nginx={sm['rps'] / ng['rps']:.2f} "
              f"pg_redis_cpu_us={pr['cpu_us_per_req']:.1f} "
              f"sqlite_memory_cpu_us={sm['cpu_us_per_req']:.1f} "
              f"redis_evalsha_per_req={pr['evalsha_per_req']:.2f} "
              f"redis_cpu_us_per_req={pr['redis_us']:.1f} writer_rows_s={drain_rps:.0f} "
              f"pg_cpu_us_per_row={pg_us:.1f} unit_writer_rows_s="
              f"{'NA' if unit_rps is None else f'{unit_rps:.0f}'}", flush=True)
    return 0


def cpu_model():
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*: (.*)$", f.read(), re.M)
    return m.group(1) if m else "?"


def load_avg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
