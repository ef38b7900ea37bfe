#!/usr/bin/env python3
"""A real local HTTPS receiver for secure_forward's tests and demo.

Listens on 127.0.0.1, logs every request as one JSON line (headers and body,
so tests can check exactly what left the store) and answers as the path says:

  /ok, /anything            200 {"ok":true}
  /status/NNN               that status
  /seq/S1,S2,...            the n-th request to this exact path gets S_n (the last repeats);
                            an entry like 429r2 adds "Retry-After: 2"
  /ratelimit/R              200 with X-RateLimit-Remaining: R-1-n (n-th request, floor 0), X-RateLimit-Reset: 1
  /redirect                 302 to https://other.invalid/ (must never be followed)
  /slow/MS                  sleeps MS milliseconds, then 200
  /stall                    reads the request, never answers
  /big                      200 with a 64 MiB body
  /reset                    closes the connection without answering
  /trickle                  sends a status line, then one header byte every 100 ms, forever
  /endless                  200 with an endless chunked body (64 KiB chunks, as fast as read)
  /cut/N                    the first N requests to this exact path get half a response head,
                            then a TCP reset (RST); later ones 200
  /oauth/token?ttl=S&tag=T[&delay_ms=D]  OAuth2 client-credentials token endpoint (answers after D ms) (needs --oauth-client-id and
                            --oauth-secret-file): client auth by HTTP Basic or in the form body;
                            issues a random Bearer token valid S seconds (default 300), remembered
                            under tag T; bad credentials → 401 {"error":"invalid_client"}. The log
                            entry gets "issued": true/false.
  /bearer/...               200 only with "Authorization: Bearer <token>" of a token issued here,
                            not expired and not revoked; else 401 (WWW-Authenticate: Bearer)
  /ok/... /anything         (any other path) 200
  GET /_log                 the log so far, as a JSON list
  POST /_reset              clears log and counters
  POST /_revoke?tag=T       revokes every token issued under tag T

Usage: receiver.py --cert C --key K --log FILE [--port 0] [--port-file F]
                   [--oauth-client-id ID --oauth-secret-file FILE]
"""
import argparse, base64, json, os, secrets, socket, ssl, sys, threading, time
from urllib.parse import parse_qs, unquote_plus, urlsplit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNTERS = {}
LOG = []
CONN_IDS = {}
NEXT_CONN = [0]
TOKENS = {}  # token -> (expires_at, tag)
OAUTH = {"id": None, "secret": None}


def oauth_client_ok(headers, form):
    """Client authentication: HTTP Basic (client_secret_basic) or form body (client_secret_post)."""
    cid = csec = None
    auth = headers.get("Authorization") or ""
    if auth.startswith("Basic "):
        try:
            pair = base64.b64decode(auth[6:].strip()).decode()
            cid, csec = (unquote_plus(x) for x in pair.split(":", 1))
        except Exception:
            return False
    else:
        cid = (form.get("client_id") or [None])[0]
        csec = (form.get("client_secret") or [None])[0]
    return OAUTH["id"] is not None and cid == OAUTH["id"] and csec == OAUTH["secret"]


def bearer_ok(headers):
    auth = headers.get("Authorization") or ""
    if not auth.startswith("Bearer "):
        return False
    with LOCK:
        known = TOKENS.get(auth[7:])
    return known is not None and known[0] > time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sf-test-receiver"

    def log_message(self, fmt, *args):  # quiet
        pass

    def conn_id(self):
        key = id(self.connection)
        with LOCK:
            if key not in CONN_IDS:
                NEXT_CONN[0] += 1
                CONN_IDS[key] = NEXT_CONN[0]
            return CONN_IDS[key]

    def reply(self, status, body=b'{"ok":true}', headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_log":
            with LOCK:
                body = json.dumps(LOG).encode()
            return self.reply(200, body)
        self.reply(404, b'{"error":"not found"}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_reset":
            with LOCK:
                LOG.clear(); COUNTERS.clear(); TOKENS.clear()
            return self.reply(200)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/_revoke":
            tag = (query.get("tag") or [""])[0]
            with LOCK:
                for t in [t for t, (_, g) in TOKENS.items() if g == tag]:
                    del TOKENS[t]
            return self.reply(200)
        with LOCK:
            n = COUNTERS.get(self.path, 0)
            COUNTERS[self.path] = n + 1
        entry = {
            "t": time.time(), "conn": self.conn_id(), "method": "POST", "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"), "n": n,
        }
        token_reply = None
        if url.path == "/oauth/token":
            form = parse_qs(body.decode("utf-8", "replace"))
            ok = oauth_client_ok(self.headers, form) and form.get("grant_type") == ["client_credentials"]
            entry["issued"] = ok
            entry["form_keys"] = sorted(form.keys())
            time.sleep(int((query.get("delay_ms") or ["0"])[0]) / 1000.0)
            if ok:
                ttl = int((query.get("ttl") or ["300"])[0])
                token = "tok_" + secrets.token_urlsafe(24)
                with LOCK:
                    TOKENS[token] = (time.time() + ttl, (query.get("tag") or [""])[0])
                token_reply = (200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": ttl}).encode(), [])
            else:
                token_reply = (401, b'{"error":"invalid_client","error_description":"client authentication failed"}',
                               [("WWW-Authenticate", 'Basic realm="token"')])
        with LOCK:
            LOG.append(entry)
            if self.server.log_file:
                with open(self.server.log_file, "a") as f:
                    f.write(json.dumps(entry) + "\n")
        if token_reply:
            return self.reply(*token_reply)
        parts = self.path.split("?")[0].strip("/").split("/")
        kind = parts[0] if parts else ""
        if kind == "bearer":
            if bearer_ok(self.headers):
                return self.reply(200)
            return self.reply(401, b'{"error":"invalid_token"}', [("WWW-Authenticate", 'Bearer error="invalid_token"')])
        if kind == "status" and len(parts) > 1:
            return self.reply(int(parts[1]))
        if kind == "seq" and len(parts) > 1:
            seq = parts[1].split(",")
            item = seq[min(n, len(seq) - 1)]
            headers = []
            if "r" in item:
                item, ra = item.split("r", 1)
                headers.append(("Retry-After", ra))
            return self.reply(int(item), headers=headers)
        if kind == "ratelimit" and len(parts) > 1:
            left = max(0, int(parts[1]) - 1 - n)
            return self.reply(200, headers=[("X-RateLimit-Remaining", str(left)), ("X-RateLimit-Reset", "1")])
        if kind == "redirect":
            return self.reply(302, b"", [("Location", "https://other.invalid/steal")])
        if kind == "slow" and len(parts) > 1:
            time.sleep(int(parts[1]) / 1000.0)
            return self.reply(200)
        if kind == "stall":
            time.sleep(3600)
            return
        if kind == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        if kind == "trickle":
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while True:
                    self.wfile.write(b"X")
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
            return
        if kind == "endless":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
            return
        if kind == "cut" and len(parts) > 1 and n < int(parts[1]):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: applica")
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        if kind == "big":
            self.send_response(200)
            self.send_header("Content-Length", str(64 << 20))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(1024):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        self.reply(200)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--max-seconds", type=int, default=3600, help="stop by itself after this long")
    ap.add_argument("--oauth-client-id")
    ap.add_argument("--oauth-secret-file")
    a = ap.parse_args()
    if a.oauth_client_id and a.oauth_secret_file:
        OAUTH["id"] = a.oauth_client_id
        with open(a.oauth_secret_file) as f:
            OAUTH["secret"] = f.read().strip()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.log_file = a.log
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, a.port_file)
    print(f"receiver listening on https://127.0.0.1:{port}/", flush=True)
    threading.Timer(a.max_seconds, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
