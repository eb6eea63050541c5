// End-to-end: the official `openai` and `@anthropic-ai/sdk` npm clients with client API keys
// (docs/security.md). The openai client sends `Authorization: Bearer`, the Anthropic client
// `x-api-key` (its generic `post`, as Triage speaks the OpenAI wire format): the right key
// works, a wrong one is the SDK's AuthenticationError (401), and a spent budget is its
// RateLimitError (429) with a readable message and Retry-After. CTest: e2e_keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startUpstream, startTriage } from './harness.mjs';

const T = { timeout: 30_000 };
const TEAM_KEY = 'team-e2e-KEY-1c9f3a7e5b20';
const BUDGET_KEY = 'budget-e2e-KEY-6d2b8f4a0e91';

let upstream;
let triage;

before(async () => {
  upstream = await startUpstream();
  // up-dear: $100 per 1M tokens, 20-word answers. A request with max_tokens 20 reserves about
  // $0.015 and costs about $0.0025, so a $0.02 budget admits three and refuses the fourth.
  triage = await startTriage((dir) => `
server: {host: 127.0.0.1, port: 0, threads: 1}
store: {type: sqlite, path: ${dir}/triage.db}
models:
  - {name: up-ok, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: gpt-test, tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: up-dear, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: "mode:tokens-20", tier: large, prices: {input: 100, output: 100}}
auth:
  keys:
    - {name: team-e2e, secret_env: TEAM_KEY}
    - {name: budget-e2e, secret_env: BUDGET_KEY, usd_per_day: 0.02}
`, { TEST_UPSTREAM_KEY: 'sk-upstream-e2e', TEAM_KEY, BUDGET_KEY });
});

after(async () => {
  await triage?.child.stop();
  triage?.cleanup();
  await upstream?.child.stop();
});

const messages = [{ role: 'user', content: 'hello from an SDK' }];

async function thrown(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to throw');
}

const openai = (apiKey) =>
  new OpenAI({ baseURL: triage.baseURL, apiKey, maxRetries: 0, timeout: 10_000 });
const anthropic = (apiKey) =>
  new Anthropic({ baseURL: triage.origin, apiKey, maxRetries: 0, timeout: 10_000 });
const header = (headers, name) => (typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]);

test('openai client: the right key works, a wrong one is a 401', T, async () => {
  const ok = await openai(TEAM_KEY).chat.completions.create({ model: 'up-ok', messages });
  assert.equal(ok.choices[0].message.content, 'echo: hello from an SDK');
  const models = await openai(TEAM_KEY).models.list();
  assert.ok(models.data.some((m) => m.id === 'up-ok'));

  const e = await thrown(() => openai('sk-wrong-key-0000000000').chat.completions.create({ model: 'up-ok', messages }));
  assert.ok(e instanceof OpenAI.AuthenticationError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 401);
  assert.match(e.message, /invalid API key/);
});

test('anthropic client (x-api-key): the right key works, a wrong one is a 401', T, async () => {
  const ok = await anthropic(TEAM_KEY).post('/v1/chat/completions', { body: { model: 'up-ok', messages } });
  assert.equal(ok.choices[0].message.content, 'echo: hello from an SDK');

  const e = await thrown(() => anthropic('sk-ant-wrong-000000000').post('/v1/chat/completions',
    { body: { model: 'up-ok', messages } }));
  assert.ok(e instanceof Anthropic.AuthenticationError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.status, 401);
  assert.match(e.message, /invalid API key/);
});

test('a spent budget: 429 naming the limit and the key, with Retry-After, in both SDKs', T, async () => {
  const body = { model: 'up-dear', messages, max_tokens: 20 };
  let refused;
  for (let i = 0; i < 10 && !refused; ++i) {
    try {
      await openai(BUDGET_KEY).chat.completions.create(body);
    } catch (e) {
      refused = e;
    }
  }
  assert.ok(refused, 'the budget never ran out');
  assert.ok(refused instanceof OpenAI.RateLimitError, `got ${refused?.constructor?.name}: ${refused?.message}`);
  assert.equal(refused.status, 429);
  assert.match(refused.message, /API key 'budget-e2e' is over its usd_per_day limit/);
  assert.ok(!refused.message.includes(BUDGET_KEY), 'the secret is in the message');
  assert.ok(Number(header(refused.headers, 'retry-after')) >= 1, 'Retry-After');

  const e = await thrown(() => anthropic(BUDGET_KEY).post('/v1/chat/completions', { body }));
  assert.ok(e instanceof Anthropic.RateLimitError, `got ${e?.constructor?.name}: ${e?.message}`);
  assert.match(e.message, /usd_per_day/);
  assert.ok(Number(header(e.headers, 'retry-after')) >= 1, 'Retry-After');
});
