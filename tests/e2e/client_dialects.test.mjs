// End-to-end: the official @anthropic-ai/sdk against Triage's POST /v1/messages, served by an
// OpenAI-compatible upstream (triage-test-upstream): create, stream (events and finalMessage),
// tools both ways, errors as the SDK's APIError classes, and a key's budget and spend applying
// to /v1/messages as to chat; and the openai client's models.retrieve (GET /v1/models/{id}).
// CTest: e2e_client_dialects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startUpstream, startTriage } from './harness.mjs';

const T = { timeout: 30_000 };
const TEAM_KEY = 'team-msg-KEY-4b7e1d9c0a23';
const BUDGET_KEY = 'budget-msg-KEY-8e3f6a2d1c57';
const NARROW_KEY = 'narrow-msg-KEY-2f9a7c3e5d18';

let upstream;
let triage;

before(async () => {
  upstream = await startUpstream();
  triage = await startTriage((dir) => `
server: {host: 127.0.0.1, port: 0, threads: 1}
store: {type: sqlite, path: ${dir}/triage.db}
models:
  - {name: up-ok, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: gpt-test, tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: up-tool, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: "mode:tool-call", tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: up-broken, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: "mode:error-500", tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: up-dear, provider: openai, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: "mode:tokens-20", tier: large, prices: {input: 100, output: 100}}
routes:
  - {name: support, type: model, model: up-ok}
auth:
  keys:
    - {name: team-msg, secret_env: TEAM_KEY}
    - {name: budget-msg, secret_env: BUDGET_KEY, usd_per_day: 0.02}
    - {name: narrow, secret_env: NARROW_KEY, routes: [support]}
`, { TEST_UPSTREAM_KEY: 'sk-upstream-e2e', TEAM_KEY, BUDGET_KEY, NARROW_KEY });
});

after(async () => {
  await triage?.child.stop();
  triage?.cleanup();
  await upstream?.child.stop();
});

const client = (apiKey = TEAM_KEY) =>
  new Anthropic({ baseURL: triage.origin, apiKey, maxRetries: 0, timeout: 10_000 });

async function thrown(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to throw');
}

const tools = [{
  name: 'lookup',
  description: 'Looks a text up',
  input_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
}];

test('messages.create: system, multi-turn, text answer, usage', T, async () => {
  const msg = await client().messages.create({
    model: 'support',
    max_tokens: 64,
    system: 'be brief',
    messages: [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: [{ type: 'text', text: 'first answer' }] },
      { role: 'user', content: [{ type: 'text', text: 'hello from the anthropic sdk' }] },
    ],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.model, 'up-ok');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'echo: hello from the anthropic sdk' }]);
  assert.equal(msg.stop_reason, 'end_turn');
  // Upstream counts words: system 2 + 2 + 2 + 5 = 11 in, "echo: hello from the anthropic sdk" 6 out.
  assert.equal(msg.usage.input_tokens, 11);
  assert.equal(msg.usage.output_tokens, 6);
});

test('messages.create: max_tokens cuts the answer (stop_reason max_tokens)', T, async () => {
  const msg = await client().messages.create({
    model: 'up-ok', max_tokens: 2, messages: [{ role: 'user', content: 'one two three four' }],
  });
  assert.equal(msg.stop_reason, 'max_tokens');
  assert.equal(msg.usage.output_tokens, 2);
});

test('messages.stream: the event sequence and finalMessage', T, async () => {
  const stream = client().messages.stream({
    model: 'up-ok', max_tokens: 64, messages: [{ role: 'user', content: 'stream me please' }],
  });
  const types = [];
  let text = '';
  stream.on('streamEvent', (e) => types.push(e.type));
  stream.on('text', (t) => { text += t; });
  const msg = await stream.finalMessage();
  assert.equal(msg.content[0].text, 'echo: stream me please');
  assert.equal(text, msg.content[0].text);
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.ok(types.includes('content_block_delta'));
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.input_tokens, 3);
  assert.ok(msg.usage.output_tokens > 0);
});

test('messages.create and stream with tools: tool_use out, tool_result back in', T, async () => {
  const msg = await client().messages.create({
    model: 'up-tool', max_tokens: 64, tools, tool_choice: { type: 'auto' },
    messages: [{ role: 'user', content: 'find cats' }],
  });
  assert.equal(msg.stop_reason, 'tool_use');
  const use = msg.content.find((b) => b.type === 'tool_use');
  assert.ok(use, JSON.stringify(msg.content));
  assert.equal(use.name, 'lookup');
  assert.deepEqual(use.input, { text: 'find cats' });

  // The upstream got the OpenAI shape of the tools.
  const last = await (await fetch(`${upstream.baseURL.replace(/\/v1$/, '')}/_last_request`)).json();
  const sent = JSON.parse(last.body);
  assert.equal(sent.tools[0].type, 'function');
  assert.equal(sent.tools[0].function.name, 'lookup');
  assert.equal(sent.tool_choice, 'auto');

  const streamed = await client().messages.stream({
    model: 'up-tool', max_tokens: 64, tools,
    messages: [{ role: 'user', content: 'find dogs' }],
  }).finalMessage();
  assert.equal(streamed.stop_reason, 'tool_use');
  const su = streamed.content.find((b) => b.type === 'tool_use');
  assert.equal(su.name, 'lookup');
  assert.deepEqual(su.input, { text: 'find dogs' });

  // The tool's result goes back as a tool_result block.
  const answer = await client().messages.create({
    model: 'up-ok', max_tokens: 64, tools,
    messages: [
      { role: 'user', content: 'find cats' },
      { role: 'assistant', content: [{ type: 'tool_use', id: use.id, name: 'lookup', input: use.input }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'three cats' },
                                { type: 'text', text: 'summarise' }] },
    ],
  });
  assert.equal(answer.content[0].text, 'echo: summarise');
  const back = JSON.parse((await (await fetch(`${upstream.baseURL.replace(/\/v1$/, '')}/_last_request`)).json()).body);
  assert.equal(back.messages[1].tool_calls[0].id, use.id);
  assert.deepEqual(back.messages[2], { role: 'tool', tool_call_id: use.id, content: 'three cats' });
});

test('errors are the SDK\'s APIError classes with the right status', T, async () => {
  const bad = await thrown(() => client().messages.create({
    model: 'up-ok', messages: [{ role: 'user', content: 'no max_tokens' }],
  }));
  assert.ok(bad instanceof Anthropic.BadRequestError, `got ${bad?.constructor?.name}: ${bad?.message}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.error.type, 'error');
  assert.equal(bad.error.error.type, 'invalid_request_error');
  assert.match(bad.error.error.message, /max_tokens/);

  const unknown = await thrown(() => client().messages.create({
    model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
  }));
  assert.ok(unknown instanceof Anthropic.NotFoundError, `got ${unknown?.constructor?.name}`);
  assert.equal(unknown.error.error.type, 'not_found_error');

  const auth = await thrown(() => client('sk-ant-wrong-000000000').messages.create({
    model: 'up-ok', max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
  }));
  assert.ok(auth instanceof Anthropic.AuthenticationError, `got ${auth?.constructor?.name}`);
  assert.equal(auth.error.error.type, 'authentication_error');

  const upstreamFailure = await thrown(() => client().messages.create({
    model: 'up-broken', max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
  }));
  assert.ok(upstreamFailure instanceof Anthropic.APIError, `got ${upstreamFailure?.constructor?.name}`);
  assert.equal(upstreamFailure.status, 502);
  assert.equal(upstreamFailure.error.error.type, 'api_error');
});

test('a key\'s spend lands on it from /v1/messages, and a spent budget is a 429 there', T, async () => {
  const body = { model: 'up-dear', max_tokens: 20, messages: [{ role: 'user', content: 'hello budget' }] };
  let refused;
  let served = 0;
  for (let i = 0; i < 10 && !refused; ++i) {
    try {
      await client(BUDGET_KEY).messages.create(body);
      ++served;
    } catch (e) {
      refused = e;
    }
  }
  // $0.02 a day at $100 per 1M tokens: each call costs about $0.0022 and reserves about
  // $0.0042, so a few are served before the spend (charged from /v1/messages) runs it out.
  assert.ok(served >= 1 && served < 10, `served ${served}`);
  assert.ok(refused instanceof Anthropic.RateLimitError, `got ${refused?.constructor?.name}: ${refused?.message}`);
  assert.equal(refused.status, 429);
  assert.equal(refused.error.error.type, 'rate_limit_error');
  assert.match(refused.error.error.message, /usd_per_day/);
});

test('openai models.retrieve: a model, a route, 404 otherwise and for a model the key may not use', T, async () => {
  const openai = (apiKey) => new OpenAI({ baseURL: triage.baseURL, apiKey, maxRetries: 0, timeout: 10_000 });
  const model = await openai(TEAM_KEY).models.retrieve('up-ok');
  assert.equal(model.id, 'up-ok');
  assert.equal(model.object, 'model');
  assert.equal(model.triage.kind, 'model');
  const route = await openai(TEAM_KEY).models.retrieve('support');
  assert.equal(route.id, 'support');
  assert.equal(route.triage.kind, 'route');

  const missing = await thrown(() => openai(TEAM_KEY).models.retrieve('no-such-model'));
  assert.ok(missing instanceof OpenAI.NotFoundError, `got ${missing?.constructor?.name}`);
  assert.equal(missing.error.param, 'model');
  assert.equal((await openai(NARROW_KEY).models.retrieve('support')).id, 'support');
  const hidden = await thrown(() => openai(NARROW_KEY).models.retrieve('up-ok'));
  assert.ok(hidden instanceof OpenAI.NotFoundError, `got ${hidden?.constructor?.name}`);
  const unauth = await thrown(() => openai('sk-wrong-000000000000').models.retrieve('up-ok'));
  assert.equal(unauth.status, 401);
});
