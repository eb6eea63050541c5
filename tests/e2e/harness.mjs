// Process harness for the end-to-end tests: starts triage-test-upstream and `triage serve` on
// ephemeral loopback ports, waits for their "listening" lines, and stops them again.
//
// Binaries come from env TRIAGE_BIN / TRIAGE_UPSTREAM_BIN (CTest sets both), defaulting to
// ../../build/bin/{triage,triage-test-upstream} relative to this folder. Every child is killed
// (SIGKILL) when the node process exits, whatever the reason, so a failing test never leaks one.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const TRIAGE_BIN = process.env.TRIAGE_BIN || resolve(here, '../../build/bin/triage');
export const UPSTREAM_BIN =
  process.env.TRIAGE_UPSTREAM_BIN || resolve(here, '../../build/bin/triage-test-upstream');

const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// A started child process plus the tail of its output (for failure messages).
class Child {
  constructor(name, proc) {
    this.name = name;
    this.proc = proc;
    this.output = '';
    this.exited = new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal })));
    this.stopping = false;
    this.exited.then(({ code, signal }) => {
      children.delete(proc);
      // A crash shows up as connection errors in later tests; say why, once, where it happened.
      if (!this.stopping) {
        process.stderr.write(`${name} exited unexpectedly (code ${code}, signal ${signal}); ` +
          `last output:\n${this.output}\n`);
      }
    });
    children.add(proc);
    const keep = (chunk) => { this.output = (this.output + chunk).slice(-8000); };
    proc.stdout.setEncoding('utf8').on('data', keep);
    proc.stderr.setEncoding('utf8').on('data', keep);
  }

  // Resolves with the first match of `re` in stdout; rejects on exit or after the timeout.
  waitFor(re, what) {
    return new Promise((res, rej) => {
      let buf = '';
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${what} within ` +
        `${STARTUP_TIMEOUT_MS} ms; output:\n${this.output}`)), STARTUP_TIMEOUT_MS);
      const onData = (chunk) => {
        buf += chunk;
        const m = buf.match(re);
        if (m) done(null, m);
      };
      const onExit = (code, signal) => done(new Error(`${this.name} exited (code ${code}, ` +
        `signal ${signal}) before ${what}; output:\n${this.output}`));
      const done = (err, m) => {
        clearTimeout(timer);
        this.proc.stdout.off('data', onData);
        this.proc.off('exit', onExit);
        err ? rej(err) : res(m);
      };
      this.proc.stdout.on('data', onData);
      this.proc.once('exit', onExit);
    });
  }

  // Sends `signal`, waits for exit (SIGKILL after the timeout); resolves {code, signal}.
  async stop(signal = 'SIGTERM') {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.stopping = true;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

function start(name, bin, args, env) {
  if (!existsSync(bin)) {
    throw new Error(`${name} binary not found at ${bin} (build it, or set ` +
      `${name === 'triage' ? 'TRIAGE_BIN' : 'TRIAGE_UPSTREAM_BIN'})`);
  }
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Child(name, proc);
}

// Starts the test upstream; resolves { child, port, baseURL }.
export async function startUpstream() {
  const child = start('triage-test-upstream', UPSTREAM_BIN, ['--port', '0'], {});
  const m = await child.waitFor(/listening on (\d+)/, '"listening on <port>" line');
  const port = Number(m[1]);
  return { child, port, baseURL: `http://127.0.0.1:${port}/v1` };
}

// Writes `configYaml` (a function of the temp dir) to a temp dir and starts `triage serve` on an
// ephemeral port; resolves { child, baseURL, dir, cleanup }.
export async function startTriage(configYaml, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'triage-e2e-'));
  const cfg = join(dir, 'triage.yaml');
  writeFileSync(cfg, configYaml(dir));
  const child = start('triage', TRIAGE_BIN, ['serve', '-c', cfg, '--listen', '127.0.0.1:0'], env);
  let m;
  try {
    m = await child.waitFor(/triage: listening on (http:\/\/\S+)/, '"triage: listening on" line');
  } catch (e) {
    await child.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const origin = m[1].replace(/\/$/, '');
  return {
    child,
    dir,
    origin,
    baseURL: `${origin}/v1`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
