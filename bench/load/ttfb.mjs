// Time to first token of a streaming chat completion, measured from the client.
// usage: node ttfb.mjs URL [N=200] [MODEL=gpt-4o-mini]   (node built-ins only)
// Asks for the usage chunk (stream_options.include_usage), as a gateway does upstream to bill the
// call, so that direct and proxied streams carry the same chunks.
// Sends N sequential streaming requests over one keep-alive connection and records, per request,
// the time from writing the request to receiving the first SSE event that carries delta content
// (not merely the response headers, which a proxy could send before the upstream answers), and
// to the end of the stream. Prints one line:
//   TTFB n=N errors=E first_p50_us=.. first_p90_us=.. first_p99_us=.. done_p50_us=..
import http from 'node:http';

const url = new URL(process.argv[2]);
const n = Number(process.argv[3] ?? 200);
const body = JSON.stringify({
  model: process.argv[4] ?? 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'system', content: 'You are a helpful assistant.' },
             { role: 'user', content: 'Hello, how are you?' }],
  max_tokens: 16, temperature: 0.2,
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let first = null;
    let buf = '';
    const req = http.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench',
                 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (first !== null) return;
        buf += chunk;
        if (/"content"\s*:\s*"[^"]/.test(buf)) first = process.hrtime.bigint();
      });
      res.on('end', () => {
        const end = process.hrtime.bigint();
        if (res.statusCode !== 200 || first === null) return resolve(null);
        resolve({ first: Number(first - t0) / 1e3, done: Number(end - t0) / 1e3 });
      });
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => resolve(null));
    req.end(body);
  });
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const firsts = [];
const dones = [];
let errors = 0;
for (let i = 0; i < 20; i++) await once();  // warm-up: connection, JIT
for (let i = 0; i < n; i++) {
  const r = await once();
  if (r === null) { errors++; continue; }
  firsts.push(r.first);
  dones.push(r.done);
}
firsts.sort((a, b) => a - b);
dones.sort((a, b) => a - b);
const f = (x) => (x === undefined ? 'NA' : x.toFixed(0));
console.log(`TTFB n=${firsts.length} errors=${errors} first_p50_us=${f(pct(firsts, 50))} ` +
  `first_p90_us=${f(pct(firsts, 90))} first_p99_us=${f(pct(firsts, 99))} done_p50_us=${f(pct(dones, 50))}`);
agent.destroy();
