#!/usr/bin/env python3
"""Talks to the Okta stand-in's test control API (/__admin__/) for the end-to-end tests.

usage:
  okta_ctl.py PORT admin METHOD PATH [JSON]   prints the JSON answer; exits 1 on HTTP >= 300
  okta_ctl.py PORT count                      how many Okta API requests the fake has logged
  okta_ctl.py PORT log [SINCE]                one line per logged request from index SINCE:
                                              T METHOD STATUS AUTH PATH  (T: the fake's clock)
"""
import http.client
import json
import sys


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, "/__admin__/" + path.lstrip("/"), body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, raw.decode()


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    port, cmd = argv[1], argv[2]
    if cmd == "admin":
        status, text = call(port, argv[3], argv[4], argv[5] if len(argv) > 5 else None)
        print(text)
        return 0 if status < 300 else 1
    if cmd == "count":
        status, text = call(port, "GET", "requests")
        print(json.loads(text)["next"])
        return 0
    if cmd == "log":
        since = int(argv[3]) if len(argv) > 3 else 0
        status, text = call(port, "GET", "requests?since=%d" % since)
        for r in json.loads(text)["requests"]:
            print("%.3f %s %s %s %s" % (r["t"], r["method"], r["status"], r["auth"], r["path"]))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
