#!/usr/bin/env python3
"""A fault-injecting HTTP reverse proxy for Usher's tests (standard library only).

    fault_proxy.py --listen 127.0.0.1:PORT --upstream http://127.0.0.1:PORT2

Forwards every request (method, path, query, headers including Authorization, body) to the
upstream and returns its response, unless a fault is set. The first stdout line is
`LISTENING 127.0.0.1:PORT` (PORT 0 picks a free port). SIGTERM/SIGINT stop it cleanly.

Control endpoint, on the same port:
  POST   /__fault__      {"mode": M, "count": N, "path_contains": "..."} + mode options
                         count: only the next N matching requests, then back to pass-through
                         path_contains: only requests whose path+query contains this
  GET    /__fault__/log  [{"method", "path", "status", "authorization": bool, "fault"}, ...]
                         (status null when no response was sent; never the header's value)
  DELETE /__fault__      back to pass-through, log cleared
Modes:
  pass            forward
  refuse          close the connection without a response
  status          answer {"status": 500} (503, ...) with a SCIM error body, optional "retry_after"
  429             answer 429 with Retry-After: "retry_after" (default 1)
  truncate        upstream's headers with the full Content-Length, half the body, then close
  invalid_json    200 with a body that is not JSON
  stall           send nothing for "seconds" (default 300), then close; other requests go on
  endless_paging  list responses: always the first page's Resources, totalResults 10**9
  slow            wait "delay" seconds (default 2), then forward
"""
import argparse
import http.client
import http.server
import json
import signal
import sys
import threading
import urllib.parse
import urllib.request

CONTROL_PATH = "/__fault__"
MODES = {"pass", "refuse", "status", "429", "truncate", "invalid_json", "stall",
         "endless_paging", "slow"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "content-length", "host"}
SET_BY_PROXY = {"server", "date"}  # send_response() writes its own
ENDLESS_TOTAL = 10 ** 9


class FaultState:
    """The current fault and the request log, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fault = None
        self.log = []

    def set(self, fault):
        mode = str(fault.get("mode", ""))
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {sorted(MODES)}")
        count = fault.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        with self.lock:
            self.fault = dict(fault, mode=mode)

    def reset(self):
        with self.lock:
            self.fault = None
            self.log = []

    def take(self, path):
        """The fault for a request to `path` (None: pass through); counts it down."""
        with self.lock:
            fault = self.fault
            if fault is None or fault.get("path_contains", "") not in path:
                return None
            if fault.get("count") is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.fault = None
            return dict(fault)

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def entries(self):
        with self.lock:
            return list(self.log)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy"

    # set on the subclass made by make_server()
    state = None
    upstream = None
    stopping = None

    def log_message(self, format, *args):  # quiet: the /__fault__/log endpoint tells all
        pass

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def handle_any(self):
        body = self.read_body()
        if self.path == CONTROL_PATH or self.path.startswith(CONTROL_PATH + "/"):
            return self.handle_control(body)
        fault = self.state.take(self.path) or {"mode": "pass"}
        entry = {"method": self.command, "path": self.path, "status": None,
                 "authorization": "Authorization" in self.headers, "fault": fault["mode"]}
        self.state.record(entry)  # logged on arrival, so a stalled request shows up at once
        entry["status"] = self.apply(fault, body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- control endpoint
    def handle_control(self, body):
        try:
            if self.command == "GET" and self.path == CONTROL_PATH + "/log":
                return self.send_json(200, self.state.entries())
            if self.command == "GET" and self.path == CONTROL_PATH:
                return self.send_json(200, {"fault": self.state.fault})
            if self.command == "DELETE" and self.path == CONTROL_PATH:
                self.state.reset()
                return self.send_json(200, {"fault": None})
            if self.command == "POST" and self.path == CONTROL_PATH:
                self.state.set(json.loads(body or b"{}"))
                return self.send_json(200, {"fault": self.state.fault})
            self.send_json(404, {"error": "unknown control request"})
        except ValueError as e:
            self.send_json(400, {"error": str(e)})

    # --- faults; each returns the status sent (None: no response)
    def apply(self, fault, body):
        mode = fault["mode"]
        if mode == "refuse":
            self.close_connection = True
            return None
        if mode in ("status", "429"):
            status = 429 if mode == "429" else int(fault.get("status", 500))
            headers = {}
            retry_after = fault.get("retry_after", 1 if mode == "429" else None)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                     "status": str(status), "detail": "injected by fault_proxy"}
            headers["Content-Type"] = "application/scim+json"
            return self.send_json(status, error, headers)
        if mode == "invalid_json":
            return self.send_bytes(200, b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListRe',
                                   {"Content-Type": "application/scim+json"})
        if mode == "stall":
            self.stopping.wait(float(fault.get("seconds", 300)))
            self.close_connection = True
            return None
        if mode == "slow":
            self.stopping.wait(float(fault.get("delay", 2)))

        endless = mode == "endless_paging" and self.command == "GET"
        path = first_page_path(self.path) if endless else self.path
        try:
            status, headers, payload = self.forward(path, body)
        except OSError as e:
            return self.send_json(502, {"error": f"upstream: {e}"})
        if endless:
            payload = endless_page(payload, self.path)
        if mode == "truncate":
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.close_connection = True
            return status
        return self.send_bytes(status, payload, dict(headers))

    def forward(self, path, body):
        """Send the request upstream; return (status, [(header, value)], body)."""
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = self.upstream.netloc
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.upstream.path.rstrip("/") + path, body=body or None,
                               headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders()
                    if k.lower() not in HOP_BY_HOP | SET_BY_PROXY]
            return response.status, kept, payload
        finally:
            connection.close()

    def send_json(self, status, value, headers=None):
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        return self.send_bytes(status, json.dumps(value).encode(), headers)

    def send_bytes(self, status, payload, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return status


def first_page_path(path):
    """The same request with startIndex=1 (the first page)."""
    parts = urllib.parse.urlsplit(path)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if k != "startIndex"] + [("startIndex", "1")]
    return urllib.parse.urlunsplit(("", "", parts.path, urllib.parse.urlencode(query), ""))


def endless_page(payload, asked_path):
    """Rewrite a ListResponse: totalResults 10**9, startIndex as asked; others unchanged."""
    try:
        page = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(page, dict) or "totalResults" not in page:
        return payload
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(asked_path).query))
    page["totalResults"] = ENDLESS_TOTAL
    try:
        page["startIndex"] = max(1, int(query.get("startIndex", 1)))
    except ValueError:
        pass
    return json.dumps(page).encode()


def make_server(listen_host, listen_port, upstream_url):
    upstream = urllib.parse.urlsplit(upstream_url)
    if upstream.scheme != "http" or not upstream.hostname:
        raise ValueError("upstream must be an http:// URL")
    handler = type("BoundProxyHandler", (ProxyHandler,), {
        "state": FaultState(), "upstream": upstream, "stopping": threading.Event()})
    server = http.server.ThreadingHTTPServer((listen_host, listen_port), handler)
    server.daemon_threads = True
    return server


# --- small client helpers for test code
def set_fault(proxy_url, mode, **options):
    return _control(proxy_url, "POST", CONTROL_PATH, dict(options, mode=mode))


def reset_faults(proxy_url):
    return _control(proxy_url, "DELETE", CONTROL_PATH)


def request_log(proxy_url):
    return _control(proxy_url, "GET", CONTROL_PATH + "/log")


def _control(proxy_url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(proxy_url.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--upstream", required=True, metavar="http://HOST:PORT")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = make_server(host or "127.0.0.1", int(port), args.upstream)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    bound_host, bound_port = server.server_address[:2]
    print(f"LISTENING {bound_host}:{bound_port}", flush=True)
    while not stop.wait(0.2):
        pass
    server.RequestHandlerClass.stopping.set()  # wakes stalled and slow requests
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    sys.exit(main())
