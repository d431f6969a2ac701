#!/usr/bin/env python3
"""Minimal /dev/log sink for the test namespace: receives syslog datagrams, appends one per line.

usage: syslog-sink.py SOCKET_PATH OUTPUT_FILE
"""
import os
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    with open(out, "ab", buffering=0) as f:
        while True:
            f.write(sock.recv(65536).rstrip(b"\n") + b"\n")


if __name__ == "__main__":
    main()
