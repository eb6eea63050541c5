// End-to-end: the official `openai` npm client talking to `triage serve`, which passes requests
// through to triage-test-upstream. Run with `node --test` in this folder (CTest: e2e_openai_client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startUpstream, startTriage } from './harness.mjs';

const PRICE_IN = 0.5;   // USD per 1M input tokens, as in the config below
const PRICE_OUT = 1.5;  // USD per 1M output tokens
const T = { timeout: 20_000 };

let upstream;
let triage;
let client;

before(async () => {
  upstream = await startUpstream();
  triage = await startTriage((dir) => `
server: {host: 127.0.0.1, port: 0, threads: 1, max_body_bytes: 1048576}
store: {type: sqlite, path: ${dir}/triage.db}
models:
  - name: up-ok
    provider: openai
    endpoint: ${upstream.baseURL}
    api_key_env: TEST_UPSTREAM_KEY
    upstream_model: gpt-test
    tier: small
    prices: {input: ${PRICE_IN}, output: ${PRICE_OUT}}
  - name: up-fail
    provider: openai
    endpoint: ${upstream.baseURL}
    api_key_env: TEST_UPSTREAM_KEY
    upstream_model: "mode:error-500"
    tier: small
    prices: {input: ${PRICE_IN}, output: ${PRICE_OUT}}
routes:
  - {name: support, type: model, model: up-ok}
`, { TEST_UPSTREAM_KEY: 'sk-upstream-e2e' });
  client = new OpenAI({ baseURL: triage.baseURL, apiKey: 'sk-client-e2e', maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  await triage?.child.stop();
  triage?.cleanup();
  await upstream?.child.stop();
});

const user = (text) => [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: text },
];

// Rejects with the thrown error, failing if `fn` resolves.
async function thrown(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to throw');
}

test('non-streaming completion: content, usage, id, model, cost header', T, async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'up-ok', messages: user('hello from the openai client'), max_tokens: 32 })
    .withResponse();

  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.equal(typeof data.id, 'string');
  assert.ok(data.id.length > 0, 'id is empty');
  assert.equal(typeof data.model, 'string');
  assert.ok(data.model.length > 0, 'model is empty');
  assert.equal(data.choices.length, 1);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, 'echo: hello from the openai client');
  assert.ok(data.choices[0].finish_reason, 'finish_reason missing');

  const u = data.usage;
  assert.ok(u.prompt_tokens > 0, `prompt_tokens ${u.prompt_tokens}`);
  assert.ok(u.completion_tokens > 0, `completion_tokens ${u.completion_tokens}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);

  assert.ok(response.headers.get('x-request-id'), 'x-request-id missing');
  assert.equal(response.headers.get('x-triage-model'), 'up-ok');
  const costHeader = response.headers.get('x-triage-cost-usd');
  assert.ok(costHeader !== null, 'x-triage-cost-usd missing');
  const cost = Number(costHeader);
  const expected = (u.prompt_tokens * PRICE_IN + u.completion_tokens * PRICE_OUT) / 1e6;
  // Allows the header to be printed with 6 decimals.
  assert.ok(Math.abs(cost - expected) <= 5e-7 + 1e-6 * expected,
    `x-triage-cost-usd ${costHeader}, expected ~${expected}`);

  assert.equal(typeof data.triage, 'object', 'body has no triage object');
  assert.ok(data.triage !== null);
});

test('streaming completion: deltas rebuild the echo, final chunk carries usage', T, async () => {
  const text = 'one two three four five';
  const { data: stream, response } = await client.chat.completions
    .create({
      model: 'up-ok',
      messages: user(text),
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.ok(response.headers.get('x-request-id'), 'x-request-id missing');
  assert.equal(response.headers.get('x-triage-model'), 'up-ok');

  let content = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    chunks += 1;
    for (const c of chunk.choices) {
      content += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(content, `echo: ${text}`);
  assert.ok(chunks >= text.split(' ').length, `only ${chunks} chunks: not streamed word by word`);
  assert.ok(finish, 'no finish_reason in any chunk');
  assert.ok(usage, 'no usage chunk although include_usage was set');
  assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test('a route name works as the model', T, async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'support', messages: user('route me') })
    .withResponse();
  assert.equal(data.choices[0].message.content, 'echo: route me');
  assert.equal(response.headers.get('x-triage-model'), 'up-ok');
});

test('models.list() lists models and routes', T, async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  for (const id of ['up-ok', 'up-fail', 'support']) {
    assert.ok(ids.includes(id), `${id} missing from ${JSON.stringify(ids)}`);
  }
});

test('an unknown model is a 404 NotFoundError naming the model', T, async () => {
  const err = await thrown(() =>
    client.chat.completions.create({ model: 'no-such-model', messages: user('hi') }));
  assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 404);
  assert.match(err.message, /no-such-model/);
});

test('a request without messages is a 400 BadRequestError', T, async () => {
  const err = await thrown(() => client.chat.completions.create({ model: 'up-ok' }));
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 400);
  assert.match(err.message, /messages/);
});

test('a malformed message is a 400 BadRequestError', T, async () => {
  const err = await thrown(() =>
    client.chat.completions.create({ model: 'up-ok', messages: [{ role: 'wizard', content: 'x' }] }));
  assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 400);
});

test('an upstream 500 surfaces as an APIError with status 502', T, async () => {
  const err = await thrown(() =>
    client.chat.completions.create({ model: 'up-fail', messages: user('boom') }));
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 502);
  assert.ok(err.error && typeof err.error === 'object', 'error body is not OpenAI-style');
  assert.ok(err.message.length > 4, 'empty error message');
});

test('an upstream 500 on a streaming request is also a 502', T, async () => {
  const err = await thrown(async () => {
    const stream = await client.chat.completions.create({
      model: 'up-fail', messages: user('boom'), stream: true,
    });
    for await (const _ of stream) { /* drain */ }
  });
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 502);
});

// A body over server.max_body_bytes is answered 413 while the client is still uploading; the
// gateway drains the upload (lingering close) so that the client reads the answer instead of a
// reset (before: EPIPE / "Connection error."). 16 MiB: more than loopback socket buffers hold.
const HUGE = 'x'.repeat(16 << 20);

test('a body over max_body_bytes is a 413 the openai client reads', T, async () => {
  const err = await thrown(() =>
    client.chat.completions.create({ model: 'up-ok', messages: user(HUGE) }));
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 413, `got ${err?.constructor?.name}: ${err}`);
  assert.match(err.message, /max_body_bytes/);
});

test("a body over max_body_bytes is a 413 Node's fetch reads, and the gateway still serves", T,
  async () => {
    const res = await fetch(`${triage.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client-e2e' },
      body: JSON.stringify({ model: 'up-ok', messages: user(HUGE) }),
    });
    assert.equal(res.status, 413);
    const body = await res.json();
    assert.equal(body.error.type, 'invalid_request_error');
    const ok = await client.chat.completions.create({ model: 'up-ok', messages: user('after') });
    assert.equal(ok.choices[0].message.content, 'echo: after');
  });

test('concurrent requests all succeed with distinct request ids', T, async () => {
  const n = 24;
  const results = await Promise.all(Array.from({ length: n }, (_, i) =>
    client.chat.completions.create({ model: 'up-ok', messages: user(`req ${i}`) }).withResponse()));
  const ids = new Set();
  results.forEach(({ data, response }, i) => {
    assert.equal(data.choices[0].message.content, `echo: req ${i}`);
    ids.add(response.headers.get('x-request-id'));
  });
  assert.equal(ids.size, n);
});

// Last: shuts the gateway down and checks the exit is clean.
test('SIGTERM shuts triage down gracefully (exit code 0)', T, async () => {
  const { code, signal } = await triage.child.stop('SIGTERM');
  assert.equal(signal, null, `killed by ${signal}; output:\n${triage.child.output}`);
  assert.equal(code, 0, `exit code ${code}; output:\n${triage.child.output}`);
});
