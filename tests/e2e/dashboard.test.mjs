// End-to-end: the dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) against `triage serve` with known traffic. Checks that the numbers the page
// shows equal the request store's (read with the sqlite3 shell, independently of Triage), labels
// a review item through the UI and checks the label landed in the store, and saves a
// screenshot (env TRIAGE_SCREENSHOT, default ../../build/dashboard.png). CTest: e2e_dashboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';
import { startUpstream, startTriage } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SCREENSHOT = process.env.TRIAGE_SCREENSHOT || resolve(here, '../../build/dashboard.png');
const CHROMIUM = process.env.TRIAGE_CHROMIUM || '/usr/bin/chromium';
const T = { timeout: 60_000 };
const TRAFFIC = { 'up-a': 30, 'up-b': 10, 'up-fail': 3 };
const TOTAL = Object.values(TRAFFIC).reduce((a, b) => a + b, 0);
// The gateway runs with `auth:` (docs/security.md): the client sends a key, the page needs the
// admin token (a person signs in through the form; API reads here send it as a Bearer token).
const ADMIN_TOKEN = 'admin-e2e-TOKEN-4f2a9c7d1e';
const CLIENT_KEY = 'client-e2e-KEY-8b3d0e6a5c';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

let upstream;
let triage;
let browser;
let profileDir;
let page;

// Runs a query on the store file with the sqlite3 shell; returns the rows as objects.
function sql(query) {
  const out = execFileSync('sqlite3', ['-readonly', '-json', join(triage.dir, 'triage.db'), query],
    { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

async function getJson(path) {
  const r = await fetch(triage.origin + path, { headers: ADMIN });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)),
  `${what}: page ${a}, store ${b}`);

before(async () => {
  upstream = await startUpstream();
  const model = (name, upstreamModel, tier, pin, pout) => `
  - name: ${name}
    provider: openai
    endpoint: ${upstream.baseURL}
    api_key_env: TEST_UPSTREAM_KEY
    upstream_model: "${upstreamModel}"
    tier: ${tier}
    prices: {input: ${pin}, output: ${pout}}`;
  triage = await startTriage((dir) => `
server: {host: 127.0.0.1, port: 0, threads: 2}
store: {type: sqlite, path: ${dir}/triage.db, keep_payloads: true}
review: {sample_large: 1.0}
reference_model: up-b
models:${model('up-a', 'gpt-small', 'small', 0.5, 1.5)}${model('up-b', 'gpt-large', 'large', 5, 15)}${model('up-fail', 'mode:error-500', 'medium', 1, 4)}
routes:
  - {name: ab, type: split, children: [{route: up-a, weight: 90}, {route: up-b, weight: 10}]}
slos:
  - {name: up-a-ok, scope: {model: up-a}, target: 0.9, window_s: 3600, min_requests: 5}
  - {name: ab-small, scope: {tier: small}, target: 0.9, window_s: 3600, mode: observe,
     action: {route: ab, knob: "children[1].weight", toward: 90, step: 40, hold_s: 60}}
auth:
  admin_token_env: TRIAGE_ADMIN_TOKEN
  keys:
    - {name: e2e-client, secret_env: E2E_CLIENT_KEY}
`, { TEST_UPSTREAM_KEY: 'sk-upstream-e2e', TRIAGE_ADMIN_TOKEN: ADMIN_TOKEN, E2E_CLIENT_KEY: CLIENT_KEY });

  const client = new OpenAI({ baseURL: triage.baseURL, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 10_000 });
  for (const [model, n] of Object.entries(TRAFFIC)) {
    await Promise.all(Array.from({ length: n }, (_, i) => client.chat.completions
      .create({ model, messages: [{ role: 'user', content: `question ${i} for ${model}: what is ${i} + ${i}?` }] })
      .then(() => 'ok', (e) => {
        if (model !== 'up-fail') throw e;
        return 'failed as planned';
      })));
  }
  // The summary flushes the store's write queue before reading; a trace can reach the queue
  // a moment after its response, so poll (bounded) until every request is counted.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await getJson('/v1/dashboard/summary');
    if (s.requests === TOTAL) break;
    if (Date.now() > deadline) assert.fail(`the store has ${s.requests} of ${TOTAL} requests`);
    await new Promise((r) => setTimeout(r, 50));
  }

  profileDir = mkdtempSync(join(tmpdir(), 'triage-chromium-'));
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
  });
  page = browser.pages()[0] ?? await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));

  // A person signs in: the form posts the token; the gateway answers with a session cookie
  // (HttpOnly, so the page's script never sees it) and sends the browser to the dashboard.
  await page.goto(triage.origin + '/dashboard');
  await page.locator('form[action="/dashboard/sign-in"]').waitFor();
  await page.locator('#token').fill('not the token');
  await page.locator('button[type=submit]').click();
  await page.locator('#sign-in-error').waitFor();
  await page.locator('#token').fill(ADMIN_TOKEN);
  await page.locator('button[type=submit]').click();
  await page.waitForFunction(() => Number(document.body.dataset.loaded) >= 1);
  const cookies = await browser.cookies(triage.origin);
  const session = cookies.find((c) => c.name === 'triage_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.notEqual(session.value, ADMIN_TOKEN);
});

after(async () => {
  await browser?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await triage?.child.stop();
  triage?.cleanup();
  await upstream?.child.stop();
});

test('without a credential: the sign-in form, and 401 for everything else', T, async () => {
  const form = await fetch(triage.origin + '/dashboard');
  assert.equal(form.status, 200);
  assert.match(await form.text(), /action="\/dashboard\/sign-in"/);
  for (const path of ['/dashboard/app.js', '/v1/dashboard/summary', '/v1/review']) {
    assert.equal((await fetch(triage.origin + path)).status, 401, path);
    assert.equal((await fetch(triage.origin + path,
      { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status, 401, `${path} with a client key`);
  }
});

test('cost by API key: every request was made with the one client key', T, async () => {
  const series = await getJson('/v1/dashboard/timeseries?metric=cost&by=key');
  const text = JSON.stringify(series);
  assert.match(text, /"e2e-client"/);
  assert.doesNotMatch(text, new RegExp(CLIENT_KEY));
  const [row] = sql("SELECT COUNT(*) AS n FROM requests WHERE api_key_name = 'e2e-client'");
  assert.equal(row.n, TOTAL);
});

test('the page is served from the binary with the right content types', T, async () => {
  for (const [path, type] of [['/dashboard', 'text/html'], ['/dashboard/', 'text/html'],
    ['/dashboard/app.js', 'text/javascript'], ['/dashboard/style.css', 'text/css']]) {
    const r = await fetch(triage.origin + path, { headers: ADMIN });
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type'), new RegExp('^' + type), path);
    assert.ok((await r.text()).length > 100, `${path} is empty`);
  }
  assert.equal((await fetch(triage.origin + '/dashboard/nope.js', { headers: ADMIN })).status, 404);
  assert.equal((await fetch(triage.origin + '/v1/dashboard/nope', { headers: ADMIN })).status, 404);
  assert.equal((await fetch(triage.origin + '/v1/dashboard/timeseries?metric=bogus',
    { headers: ADMIN })).status, 400);
});

test('headline numbers and the model table equal the store', T, async () => {
  await page.goto(triage.origin + '/dashboard');
  await page.waitForFunction(() => Number(document.body.dataset.loaded) >= 1);
  assert.equal(await page.locator('#error').isHidden(), true,
    `the page shows an error: ${await page.locator('#error').textContent()}`);

  const [store] = sql(`SELECT COUNT(*) AS n, TOTAL(status >= 400) AS errors, TOTAL(cost_usd) AS cost,
    TOTAL(tokens_in) AS tin, TOTAL(tokens_out) AS tout FROM requests`);
  assert.equal(store.n, TOTAL);
  assert.equal(store.errors, TRAFFIC['up-fail']);
  const value = async (id) => page.locator(`[data-testid=${id}]`).getAttribute('data-value');
  const text = async (id) => page.locator(`[data-testid=${id}]`).textContent();

  assert.equal(Number(await value('requests')), store.n);
  assert.equal(await text('requests'), String(store.n));
  assert.equal(Number(await value('errors')), store.errors);
  near(Number(await value('total-cost')), store.cost, 'total cost');
  near(Number(await value('cpi')), store.cost / store.n, 'CPI');
  // The visible text is the same amount, rounded for reading (3 significant digits).
  for (const [id, v] of [['total-cost', store.cost], ['cpi', store.cost / store.n]]) {
    const shown = Number((await text(id)).replace(/[$,]/g, ''));
    assert.ok(Math.abs(shown - v) <= 0.005 * v, `${id} shows ${await text(id)}, store ${v}`);
  }
  // Savings against every token at up-b's prices ($5 / $15 per 1M).
  const counterfactual = (store.tin * 5 + store.tout * 15) / 1e6;
  near(Number(await value('savings-usd')), counterfactual - store.cost, 'savings');
  near(Number(await value('savings-pct')), 100 * (counterfactual - store.cost) / counterfactual, 'savings %');
  assert.ok(Number(await value('projected')) > 0, 'projected monthly cost');

  const perModel = Object.fromEntries(sql('SELECT model, COUNT(*) AS n, TOTAL(cost_usd) AS cost FROM requests GROUP BY model')
    .map((r) => [r.model, r]));
  for (const [model, n] of Object.entries(TRAFFIC)) {
    assert.equal(perModel[model]?.n, n, `store count for ${model}`);
    const row = page.locator(`#models tr[data-model="${model}"]`);
    assert.equal(Number(await row.locator('[data-field=requests]').getAttribute('data-value')), n, model);
    assert.equal(await row.locator('[data-field=requests]').textContent(), String(n));
    near(Number(await row.locator('[data-field=cost]').getAttribute('data-value')), perModel[model].cost, `${model} cost`);
  }
  const failRow = page.locator('#models tr[data-model="up-fail"]');
  assert.equal(Number(await failRow.locator('[data-field=success_rate]').getAttribute('data-value')), 0);
  const okRow = page.locator('#models tr[data-model="up-a"]');
  assert.equal(Number(await okRow.locator('[data-field=success_rate]').getAttribute('data-value')), 1);
  // Cost split by model: the bars carry the same per-model cost.
  near(Number(await page.locator('[data-testid="cost-up-b"]').getAttribute('data-value')),
    perModel['up-b'].cost, 'cost split up-b');
});

test('upstreams panel: the live circuits and retries agree with the API and /metrics', T, async () => {
  // up-fail answered 500 to every attempt: with retries, enough failures in a row to open its
  // circuit (breaker consecutive_failures 5: 3 requests plus the retries the budget allows).
  const live = await getJson('/v1/dashboard/upstreams');
  const fail = live.models.find((m) => m.model === 'up-fail');
  const good = live.models.find((m) => m.model === 'up-a');
  assert.equal(fail.deployments.length, 1);
  assert.ok(fail.deployments[0].opens >= 1, `up-fail never opened: ${JSON.stringify(fail)}`);
  assert.notEqual(fail.deployments[0].state, 'closed');
  assert.equal(good.deployments[0].state, 'closed');
  assert.equal(good.deployments[0].opens, 0);
  assert.equal(good.deployments[0].picks, TRAFFIC['up-a']);
  // Retries are charged to the deployment that failed; the model's budget is their sum.
  assert.deepEqual(fail.retry_budget, fail.deployments[0].retry_budget);
  assert.equal(good.deployments[0].retry_budget.retries, 0);
  assert.ok(live.open_circuits >= 1);
  const metrics = await (await fetch(triage.origin + '/metrics')).text();
  const opened = metrics.split('\n').find((l) => l.startsWith('triage_circuit_transitions_total{')
    && l.includes('model="up-fail"') && l.includes('to="open"'));
  assert.ok(opened, 'no open transition in /metrics');
  assert.equal(Number(opened.split(' ').pop()), fail.deployments[0].opens);

  await page.goto(triage.origin + '/dashboard');
  await page.waitForFunction(() => Number(document.body.dataset.loaded) >= 1);
  const row = (model) => page.locator(`#upstreams-table tr[data-model="${model}"]`);
  assert.equal(await row('up-fail').locator('[data-field=state]').getAttribute('data-value'),
    fail.deployments[0].state);
  assert.equal(Number(await row('up-fail').locator('[data-field=opens]').getAttribute('data-value')),
    fail.deployments[0].opens);
  // Retries count over the budget's 10 s window, which can pass between the API read above and
  // the page's own (seen on a loaded machine: 3 before, 0 on the page): the page must show the
  // count of one of the reads around its load.
  const after = (await getJson('/v1/dashboard/upstreams')).models.find((m) => m.model === 'up-fail');
  const shownRetries = Number(await row('up-fail').locator('[data-field=retries]').getAttribute('data-value'));
  assert.ok([fail.deployments[0].retry_budget.retries, after.deployments[0].retry_budget.retries]
    .includes(shownRetries), `page shows ${shownRetries} retries; the API said `
    + `${fail.deployments[0].retry_budget.retries} before the page loaded and `
    + `${after.deployments[0].retry_budget.retries} after`);
  assert.equal(await row('up-a').locator('[data-field=state]').textContent(), 'closed');
  assert.match(await page.locator('#upstreams-note').textContent(), /circuit\(s\) not closed/);
});

test('SLO panel: the numbers of GET /admin/slos; a knob move is a marker on the time series', T, async () => {
  const put = await fetch(triage.origin + '/admin/knobs', {
    method: 'PUT',
    headers: { ...ADMIN, 'content-type': 'application/json' },
    body: JSON.stringify({ route: 'ab', knob: 'children[1].weight', value: 20, reason: 'e2e marker' }),
  });
  assert.equal(put.status, 200);
  const slos = await getJson('/admin/slos');
  const upA = slos.data.find((o) => o.name === 'up-a-ok');
  assert.equal(upA.requests, TRAFFIC['up-a']);
  assert.equal(upA.success_ratio, 1);
  assert.equal(upA.burn_rate, 0);
  const observed = slos.data.find((o) => o.name === 'ab-small');
  assert.equal(observed.mode, 'observe');
  assert.equal(observed.controller.file_value, 10);

  await page.goto(triage.origin + '/dashboard');
  await page.waitForFunction(() => Number(document.body.dataset.loaded) >= 1);
  const row = page.locator('#slos-table tr[data-slo="up-a-ok"]');
  assert.equal(Number(await row.locator('[data-field=requests]').getAttribute('data-value')), upA.requests);
  assert.equal(Number(await row.locator('[data-field=success]').getAttribute('data-value')), upA.success_ratio);
  assert.equal(await row.locator('[data-field=scope]').textContent(), 'model up-a');
  assert.equal(await page.locator('#slos-table tr[data-slo="ab-small"] [data-field=knob]').getAttribute('data-value'),
    'ab/children[1].weight');
  const marker = page.locator('#cpi-chart [data-testid=knob-marker]');
  assert.ok(await marker.count() >= 1, 'no knob marker on the CPI chart');
  assert.equal(await marker.first().getAttribute('data-who'), 'admin');
  assert.match(await marker.first().locator('title').textContent(), /admin: ab children\[1\]\.weight 10 \u2192 20 \(e2e marker\)/);
});

test('a review item is labeled through the UI and lands in the store', T, async () => {
  await page.goto(triage.origin + '/dashboard');
  await page.waitForFunction(() => Number(document.body.dataset.loaded) >= 1);
  // review.sample_large: 1.0 puts every successful large-tier (up-b) answer in the queue.
  const queued = sql("SELECT COUNT(*) AS n FROM review_queue WHERE status = 'open'")[0].n;
  assert.equal(queued, TRAFFIC['up-b']);
  const rows = page.locator('#review-list tbody tr[data-request-id]');
  assert.equal(await rows.count(), queued);
  const first = rows.first();
  const id = await first.getAttribute('data-request-id');
  await first.click();
  const detail = page.locator('#review-detail');
  await detail.locator('[data-testid=label-form]').waitFor();
  assert.match(await detail.textContent(), /question \d+ for up-b/);  // the stored prompt

  await detail.locator('input[name=verdict][value=correct]').check();
  await detail.locator('select[name=sufficient_tier]').selectOption('small');
  await detail.locator('input[name=reviewer]').fill('e2e-reviewer');
  await detail.locator('textarea[name=corrected_answer]').fill('4');
  await detail.locator('button[type=submit]').click();
  await page.locator('[data-testid=label-status]', { hasText: 'saved' }).waitFor();

  const labels = sql(`SELECT verdict, sufficient_tier, corrected_answer, reviewer FROM labels WHERE request_id = '${id}'`);
  assert.deepEqual(labels, [{ verdict: 'correct', sufficient_tier: 'small', corrected_answer: '4', reviewer: 'e2e-reviewer' }]);
  assert.equal(sql(`SELECT status FROM review_queue WHERE request_id = '${id}'`)[0].status, 'labeled');
  // The open list no longer shows it, and routing quality counts it as over-routed (large
  // answered, small would do).
  await page.locator(`#review-list tbody tr[data-request-id="${id}"]`).waitFor({ state: 'detached' });
  assert.equal(await page.locator('[data-testid=labeled]').getAttribute('data-value'), '1');
  assert.equal(Number(await page.locator('[data-testid=over-routing]').getAttribute('data-value')), 1);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});
