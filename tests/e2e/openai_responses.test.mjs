// End-to-end: the official openai npm client against Triage's POST /v1/responses (served by an
// OpenAI-compatible and by an Anthropic upstream, triage-test-upstream) and POST /v1/embeddings:
// responses.create, responses.stream with its final response, stream: true events, a function
// tool call round trip, the stateless refusals, embeddings.create (float, base64 and the SDK's
// default), and errors as the SDK's APIError classes. CTest: e2e_openai_responses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startUpstream, startTriage } from './harness.mjs';

const T = { timeout: 30_000 };
const KEY = 'team-resp-KEY-6c1e9b3a7d20';

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
  - {name: claude-test, provider: anthropic, endpoint: "${upstream.baseURL}", api_key_env: TEST_UPSTREAM_KEY,
     upstream_model: claude-3-test, tier: small, prices: {input: 0.5, output: 1.5}}
  - {name: embed-small, kind: embedding, provider: openai, endpoint: "${upstream.baseURL}",
     api_key_env: TEST_UPSTREAM_KEY, upstream_model: text-embed-test, prices: {input: 0.02}}
routes:
  - {name: support, type: model, model: up-ok}
auth:
  keys:
    - {name: team-resp, secret_env: TEAM_KEY}
`, { TEST_UPSTREAM_KEY: 'sk-upstream-e2e', TEAM_KEY: KEY });
});

after(async () => {
  await triage?.child.stop();
  triage?.cleanup();
  await upstream?.child.stop();
});

const client = (apiKey = KEY) =>
  new OpenAI({ baseURL: triage.baseURL, apiKey, maxRetries: 0, timeout: 10_000 });

async function thrown(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected the call to throw');
}

const tools = [{
  type: 'function',
  name: 'lookup',
  description: 'Looks a text up',
  parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  strict: false,
}];

test('responses.create: instructions and items, output_text, usage', T, async () => {
  for (const model of ['support', 'claude-test']) {
    const r = await client().responses.create({
      model,
      instructions: 'be brief',
      input: [
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: [{ type: 'input_text', text: 'hello from the openai sdk' }] },
      ],
      metadata: { ticket: 'T-1' },
    });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_/);
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'echo: hello from the openai sdk');  // the SDK's own accessor
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.metadata.ticket, 'T-1');
    // "be brief" + "first question" + "first answer" + "hello from the openai sdk" = 11 words.
    assert.equal(r.usage.input_tokens, 11);
    assert.equal(r.usage.output_tokens, 6);
    assert.equal(r.usage.total_tokens, 17);
  }
});

test('responses.stream: events and the final response', T, async () => {
  const stream = client().responses.stream({ model: 'support', input: 'stream these words please' });
  const types = [];
  let text = '';
  stream.on('response.output_text.delta', (e) => { text += e.delta; });
  for await (const event of stream) types.push(event.type);
  const final = await stream.finalResponse();
  assert.equal(text, 'echo: stream these words please');
  // (finalResponse() has no output_text accessor in this SDK version, as with OpenAI itself)
  assert.equal(final.output[0].content[0].text, 'echo: stream these words please');
  assert.equal(final.status, 'completed');
  assert.equal(final.usage.input_tokens, 4);
  assert.equal(final.usage.output_tokens, 5);
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added']);
  assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed']);
});

test('responses.create stream: true yields numbered events ending in response.completed', T, async () => {
  const events = [];
  for await (const e of await client().responses.create({ model: 'up-ok', input: 'a b', stream: true })) {
    events.push(e);
  }
  assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const done = events.at(-1);
  assert.equal(done.type, 'response.completed');
  assert.equal(done.response.output[0].content[0].text, 'echo: a b');
  assert.equal(done.response.usage.total_tokens, 5);
});

test('a function tool call round trip, created and streamed', T, async () => {
  const first = await client().responses.create({ model: 'up-tool', input: 'find cats', tools });
  const call = first.output.find((item) => item.type === 'function_call');
  assert.ok(call, JSON.stringify(first.output));
  assert.equal(call.name, 'lookup');
  assert.deepEqual(JSON.parse(call.arguments), { text: 'find cats' });

  const streamed = client().responses.stream({ model: 'up-tool', input: 'find dogs', tools });
  let args = '';
  streamed.on('response.function_call_arguments.delta', (e) => { args += e.delta; });
  const final = await streamed.finalResponse();
  assert.deepEqual(JSON.parse(args), { text: 'find dogs' });
  assert.equal(final.output[0].type, 'function_call');
  assert.equal(final.output[0].call_id, 'call_test');

  const answer = await client().responses.create({
    model: 'up-ok',
    tools,
    input: [
      { role: 'user', content: 'find cats' },
      { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: 'three cats' },
      { role: 'user', content: 'summarise' },
    ],
  });
  assert.equal(answer.output_text, 'echo: summarise');
  const back = JSON.parse((await (await fetch(`${upstream.baseURL.replace(/\/v1$/, '')}/_last_request`)).json()).body);
  assert.equal(back.messages[1].tool_calls[0].id, call.call_id);
  assert.deepEqual(back.messages[2], { role: 'tool', tool_call_id: call.call_id, content: 'three cats' });
});

test('errors are the SDK\'s APIError classes; stateful features are refused', T, async () => {
  const builtin = await thrown(() => client().responses.create({
    model: 'up-ok', input: 'x', tools: [{ type: 'web_search' }],
  }));
  assert.ok(builtin instanceof OpenAI.BadRequestError, `got ${builtin?.constructor?.name}: ${builtin?.message}`);
  assert.equal(builtin.error.param, 'tools[0].type');
  assert.match(builtin.error.message, /web_search/);

  const stateful = await thrown(() => client().responses.create({
    model: 'up-ok', input: 'x', previous_response_id: 'resp_123',
  }));
  assert.ok(stateful instanceof OpenAI.BadRequestError, `got ${stateful?.constructor?.name}`);
  assert.match(stateful.error.message, /stateless/);

  const unknown = await thrown(() => client().responses.create({ model: 'no-such-model', input: 'x' }));
  assert.ok(unknown instanceof OpenAI.NotFoundError, `got ${unknown?.constructor?.name}`);

  const auth = await thrown(() => client('sk-wrong-000000000000').responses.create({ model: 'up-ok', input: 'x' }));
  assert.ok(auth instanceof OpenAI.AuthenticationError, `got ${auth?.constructor?.name}`);

  const chatModel = await thrown(() => client().embeddings.create({ model: 'up-ok', input: 'x' }));
  assert.ok(chatModel instanceof OpenAI.BadRequestError, `got ${chatModel?.constructor?.name}`);
  assert.match(chatModel.error.message, /embed-small/);
});

test('embeddings.create: float, base64 and the SDK default', T, async () => {
  const floats = await client().embeddings.create({
    model: 'embed-small', input: ['hello', 'hello world'], encoding_format: 'float',
  });
  assert.equal(floats.object, 'list');
  assert.equal(floats.model, 'embed-small');
  assert.deepEqual(floats.data[0].embedding, [0.625, 0.75, 0.875, 0]);  // ((5 + j) % 8) / 8
  assert.deepEqual(floats.data[1].embedding, [0.375, 0.5, 0.625, 0.75]);  // 11 chars
  assert.equal(floats.usage.prompt_tokens, 3);

  const b64 = await client().embeddings.create({
    model: 'embed-small', input: 'hello', encoding_format: 'base64',
  });
  assert.equal(b64.data[0].embedding, 'AAAgPwAAQD8AAGA/AAAAAA==');

  // Without encoding_format the SDK asks for base64 and decodes it into floats.
  const byDefault = await client().embeddings.create({ model: 'embed-small', input: 'hello', dimensions: 2 });
  assert.deepEqual(Array.from(byDefault.data[0].embedding), [0.625, 0.75]);
});
