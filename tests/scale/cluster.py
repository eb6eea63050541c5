"""Throwaway servers for the multi-replica test and the capacity run (scripts/scale_test.py):
PostgreSQL, Redis, the test upstream, Triage replicas and nginx, each a real process on a
loopback port, all under one temporary directory that Cluster.close() removes after stopping
every process it started (in reverse order; close() is idempotent and runs on every exit path
of the script). Python 3 standard library only.

PostgreSQL refuses to run as root: when the script runs as root, initdb, pg_ctl and the server
run as the `postgres` OS user (runuser), as tests/pg/pg_server.cc does.
"""
import glob
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout_s, step_s=0.02):
    """Polls pred() until it returns a truthy value (returned) or timeout_s passes (None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step_s)
    return None


def http_call(port, method, target, body=None, headers=None, timeout=10):
    """(status, headers dict with lower-cased names, body bytes); status 0 on a transport error."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, target, body, headers or {})
        r = c.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        c.close()
        return out
    except (OSError, http.client.HTTPException):
        return (0, {}, b"")


def metric(text, name):
    """The value of an unlabelled Prometheus sample `name` in a /metrics text, else None."""
    m = re.search(r"^" + re.escape(name) + r" ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


class Postgres:
    """initdb in DIR/pg, a free loopback port, trust authentication, database `triage`."""

    def __init__(self, dir_):
        self.bin = self.bin_dir()
        if not self.bin:
            raise RuntimeError("PostgreSQL server binaries not found (scripts/setup.sh test "
                               "installs postgresql; or set TRIAGE_PG_BIN)")
        self.dir = os.path.join(dir_, "pg")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        os.makedirs(self.sock)
        self.as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (dir_, self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--no-locale", "-N"])
        self.port = free_port()
        self.started = False
        if not self.start():
            raise RuntimeError("PostgreSQL did not start: " + self.log_tail())
        self.psql("CREATE DATABASE triage", db="postgres")

    @staticmethod
    def bin_dir():
        env = os.environ.get("TRIAGE_PG_BIN")
        if env:
            return env if os.path.exists(os.path.join(env, "initdb")) else ""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        return os.path.dirname(found[-1]) if found else ""

    def _run(self, args, check=True):
        r = subprocess.run(self.as_user + args, cwd="/tmp", capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {r.stdout}{r.stderr}{self.log_tail()}")
        return r.returncode == 0

    def _pg_ctl(self, *args):
        return [os.path.join(self.bin, "pg_ctl"), "-D", self.data, *args]

    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/triage"

    def start(self):
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                "-c max_connections=100 -c shared_buffers=64MB")
        self.started = self._run(self._pg_ctl("-l", self.log, "-w", "-t", "60", "-o", opts,
                                              "start"), check=False)
        return self.started

    def stop(self, mode="fast"):
        ok = self._run(self._pg_ctl("-m", mode, "-w", "-t", "60", "stop"), check=False)
        self.started = not ok
        return ok

    def psql(self, sql, db="triage"):
        """Rows of a query as lists of strings (psql -At, tab-separated)."""
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-v", "ON_ERROR_STOP=1", "-AtX", "-F", "\t", "-c", sql],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {sql}: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines()]

    def log_tail(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def close(self):
        if self.started:
            self.stop("immediate")


class Redis:
    """redis-server on a free loopback port, no persistence."""

    def __init__(self, dir_):
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found (scripts/setup.sh test installs it)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", dir_, "--logfile",
             os.path.join(dir_, "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: self.command("PING") == "PONG", 10):
            raise RuntimeError("redis-server did not answer PING")

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                           text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else None

    def commandstats(self):
        """{command: (calls, usec)} from INFO commandstats. Commands a Lua script runs count
        too (under their own names), beside the script's EVALSHA."""
        out = {}
        text = self.command("INFO", "commandstats") or ""
        for m in re.finditer(r"^cmdstat_(\w+):calls=(\d+),usec=(\d+)", text, re.M):
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out

    def cpu_seconds(self):
        """used_cpu_user + used_cpu_sys of the server (INFO cpu)."""
        text = self.command("INFO", "cpu") or ""
        return sum(float(m.group(1)) for m in
                   re.finditer(r"^used_cpu_(?:user|sys):([0-9.]+)", text, re.M))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Process:
    """A child that prints a line matching `ready` on stdout when it serves. stdout and stderr
    go to LOG (stdout's ready line is read from that file). taskset pins it to `cpu` when given."""

    def __init__(self, args, log, ready, env=None, cpu=None):
        self.args = (["taskset", "-c", str(cpu)] if cpu is not None else []) + args
        self.log = log
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.proc = None
        self.match = None

    def start(self, timeout_s=30):
        logf = open(self.log, "ab")
        self.offset = logf.tell()
        self.proc = subprocess.Popen(self.args, stdout=logf, stderr=subprocess.STDOUT,
                                     env=self.env)
        logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited {self.proc.returncode}: "
                                   f"{self.log_text()[-2000:]}")
            m = re.search(self.ready, self.log_text()[self.offset:])
            return m
        self.match = wait_for(ready, timeout_s, 0.05)
        if not self.match:
            raise RuntimeError(f"{self.args} did not start: {self.log_text()[-2000:]}")
        return self

    def log_text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def wait(self, timeout_s):
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def cpu_seconds(self):
        """utime + stime so far of the process and its direct children (nginx's worker)."""
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)],
                                  capture_output=True, text=True).stdout.split()
        total = 0
        for pid in [self.pid, *children]:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass  # a child that just exited
        return total / os.sysconf("SC_CLK_TCK")

    def close(self):
        if self.alive():
            self.proc.terminate()
            if self.wait(15) is None:
                self.proc.kill()
                self.proc.wait()


class Replica(Process):
    """`triage serve -c CONFIG --listen 127.0.0.1:PORT`; the port is kept across restarts."""

    def __init__(self, triage, config, port, log, env, cpu=None):
        super().__init__([triage, "serve", "-c", config, "--listen", f"127.0.0.1:{port}"], log,
                         r"triage: listening on http://", env, cpu)
        self.port = port

    def get(self, target, headers=None, timeout=5):
        return http_call(self.port, "GET", target, None, headers, timeout)

    def metrics(self):
        status, _, body = self.get("/metrics")
        return body.decode() if status == 200 else ""


NGINX_CONF = """# nginx in front of the Triage replicas (written by tests/scale/cluster.py): round
# robin, keep-alive to the replicas, and `proxy_next_upstream error timeout`: a request whose
# connection to a replica fails (a replica stopped or killed: refused) goes to the next one.
# POSTs already sent to a replica that then dies are NOT resent (nginx's non_idempotent rule):
# that is the load balancer's part (docs/scaling.md "Multi-replica test").
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  fastcgi_temp_path {prefix}/tmp/fastcgi;
  uwsgi_temp_path {prefix}/tmp/uwsgi;
  scgi_temp_path {prefix}/tmp/scgi;
  keepalive_requests 1000000;
  upstream backends {{
{servers}
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 2s;
      proxy_read_timeout 60s;
      # Which replica answered (the last address when nginx moved on to another).
      add_header X-Triage-Replica $upstream_addr always;
    }}
  }}
}}
"""


class Nginx(Process):
    def __init__(self, dir_, backend_ports, cpu=None, fail_timeout_s=2):
        prefix = os.path.join(dir_, "nginx")
        os.makedirs(os.path.join(prefix, "tmp"))
        os.chmod(dir_, 0o755)  # nginx's workers run as another user
        os.chmod(prefix, 0o755)
        self.port = free_port()
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout={fail_timeout_s}s;"
                            for p in backend_ports)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, servers=servers, port=self.port))
        super().__init__(["nginx", "-p", prefix, "-c", conf, "-e",
                          os.path.join(prefix, "error.log")], os.path.join(dir_, "nginx.log"), "",
                         cpu=cpu)
        self.error_log = os.path.join(prefix, "error.log")

    def start(self, timeout_s=10):
        super().start(timeout_s)  # ready pattern "" matches at once: wait for the port
        if not wait_for(lambda: http_call(self.port, "GET", "/healthz", timeout=1)[0] != 0,
                        timeout_s, 0.05):
            raise RuntimeError("nginx did not start: " + self.log_text()[-1000:])
        return self


class Cluster:
    """Owns a temporary directory and every process started in it; close() stops them in
    reverse order and removes the directory. Use as a context manager."""

    def __init__(self, keep=False):
        self.dir = tempfile.mkdtemp(prefix="triage-scale-")
        self.keep = keep
        self.owned = []

    def own(self, thing):
        self.owned.append(thing)
        return thing

    def close(self):
        while self.owned:
            thing = self.owned.pop()
            try:
                thing.close()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f"scale: stopping {type(thing).__name__}: {e}")
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def exit_on_signals():
    """SIGTERM/SIGINT/SIGHUP raise SystemExit in the main thread, so `with Cluster()` and
    `finally` blocks stop every server on those exits too."""
    def handler(sig, _frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


def json_body(resp):
    try:
        return json.loads(resp[2] or b"null")
    except ValueError:
        return None
