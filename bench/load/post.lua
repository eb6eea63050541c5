-- wrk script: POSTs a small OpenAI chat-completions body (system + user message, max_tokens,
-- temperature; 177 bytes, 191 with streaming) and prints one machine-readable RESULT line.
-- env STREAM=1 adds "stream":true. The model name is the same for every target: the test
-- upstream accepts any name and the bench config of Triage declares this one.
-- env MODEL replaces the model name (a route's name, to measure it); env PROMPTS names a file of
-- JSON string literals, one per line, sent in turn as the only (user) message instead.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local stream = ''
if os.getenv("STREAM") == "1" then stream = '"stream":true,' end
local model = os.getenv("MODEL") or "gpt-4o-mini"
wrk.body = '{"model":"' .. model .. '",' .. stream ..
  '"messages":[{"role":"system","content":"You are a helpful assistant."},' ..
  '{"role":"user","content":"Hello, how are you?"}],"max_tokens":16,"temperature":0.2}'
local prompts = os.getenv("PROMPTS")
if prompts then
  local bodies = {}
  for line in io.lines(prompts) do
    bodies[#bodies + 1] = '{"model":"' .. model .. '",' .. stream ..
      '"messages":[{"role":"user","content":' .. line .. '}],"max_tokens":16,"temperature":0.2}'
  end
  local i = 0
  request = function()
    i = i % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[i])
  end
end

-- Latencies in microseconds; errors split into non-2xx/3xx statuses and socket errors, of which
-- `timeouts` are requests wrk gave up on (2 s without an answer).
done = function(summary, latency, requests)
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d sockerr=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, sock, e.timeout))
end
