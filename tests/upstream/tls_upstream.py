#!/usr/bin/env python3
"""A minimal OpenAI-compatible upstream over HTTPS, for the gateway's TLS integration tests.

Usage: tls_upstream.py --cert CERT.pem --key KEY.pem [--port 0] [--host 127.0.0.1]

POST /v1/chat/completions answers like the C++ test upstream does: the answer is
"echo: <last user text>", prompt_tokens counts the words of all message texts and
completion_tokens the words of the answer. With "stream": true the answer is sent as SSE
chat.completion.chunk events (one per word, chunked transfer encoding), then a usage chunk
when stream_options.include_usage is set, then [DONE].

Prints "listening on PORT" on stdout (flushed) once it accepts connections. The TLS
handshake runs on the connection's own thread, so a client that rejects the certificate
never blocks other connections. Standard library only.
"""
import argparse
import http.server
import json
import ssl
import sys
import time


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real upstreams do
    server_version = "triage-tls-upstream"

    def log_message(self, fmt, *args):
        sys.stderr.write("tls_upstream: " + (fmt % args) + "\n")

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        try:
            req = json.loads(raw)
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            self.send_json(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
            return
        last_user = ""
        prompt_tokens = 0
        for m in messages:
            t = text_of(m.get("content"))
            prompt_tokens += len(t.split())
            if m.get("role") == "user":
                last_user = t
        answer = "echo: " + last_user
        words = answer.split()
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        model = req.get("model", "")
        base = {"id": "chatcmpl-tls-1", "created": int(time.time()), "model": model}
        if not req.get("stream"):
            self.send_json(200, dict(base, object="chat.completion", usage=usage, choices=[{
                "index": 0, "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop"}]))
            return
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(data):
            payload = ("data: " + data + "\n\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()

        def chunk(delta, finish):
            return json.dumps(dict(base, object="chat.completion.chunk", choices=[
                {"index": 0, "delta": delta, "finish_reason": finish}]))

        event(chunk({"role": "assistant", "content": ""}, None))
        for i, w in enumerate(words):
            event(chunk({"content": w if i == 0 else " " + w}, None))
        event(chunk({}, "stop"))
        if include_usage:
            event(json.dumps(dict(base, object="chat.completion.chunk", choices=[], usage=usage)))
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, context):
        super().__init__(addr, Handler)
        self.context = context

    def finish_request(self, request, client_address):
        # Runs on the connection's thread: handshake failures stay local to the connection.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("tls_upstream: handshake failed: %s\n" % e)
            return
        try:
            Handler(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = TlsServer((args.host, args.port), ctx)
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
