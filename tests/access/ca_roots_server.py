#!/usr/bin/env python3
"""A step-ca style `GET /ssh/roots` for the access tests: answers {"userKey": [...], "hostKey": []}
with the base64 key blobs of the OpenSSH public key lines in KEYS_FILE, read at every request.
If KEYS_FILE holds a line `#status N`, answers HTTP N instead; `#raw` sends the rest of the file
as the body unchanged (for malformed answers). A missing KEYS_FILE answers 404.

usage: ca_roots_server.py KEYS_FILE PORT_FILE     (binds 127.0.0.1 on a free port, writes it)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

KEYS_FILE, PORT_FILE = sys.argv[1], sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/ssh/roots":
            return self.answer(404, b"not found\n")
        try:
            with open(KEYS_FILE, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return self.answer(404, b"no keys\n")
        lines = text.splitlines()
        if lines and lines[0].startswith("#status "):
            return self.answer(int(lines[0].split()[1]), b"failing on purpose\n")
        if lines and lines[0] == "#raw":
            return self.answer(200, "\n".join(lines[1:]).encode())
        keys = [line.split()[1] for line in lines if line.strip() and not line.startswith("#")]
        body = json.dumps({"userKey": keys, "hostKey": []}).encode()
        self.answer(200, body, "application/json")

    def answer(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("ca_roots_server: " + (fmt % args) + "\n")


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
