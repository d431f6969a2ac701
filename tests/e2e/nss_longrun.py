#!/usr/bin/env python3
"""A long-running process that resolves users and groups on request (for the NSS e2e tests).

usage: nss_longrun.py SPEC[;SPEC...]

Each SPEC is `FUNCTION:ARG[:ARG]`; the process answers one round per line read from stdin (any
text), calling every SPEC in the given order in this same process, and prints one JSON object per
round on stdout: {"SPEC": answer, ...}, flushed. Answers:
  getgrouplist:USER:GID   sorted gids of os.getgrouplist(USER, GID)
  initgroups:USER:GID     os.initgroups(USER, GID), then sorted os.getgroups()
  getgrnam:NAME           sorted member list of grp.getgrnam(NAME), or null if not found
  getgrgid:GID            sorted member list of grp.getgrgid(GID), or null if not found
  getpwnam:NAME           [uid, gid] of pwd.getpwnam(NAME), or null if not found
  getpwuid:UID            name of pwd.getpwuid(UID), or null if not found
"""
import grp
import json
import os
import pwd
import sys


def found(f, *args):
    try:
        return f(*args)
    except KeyError:
        return None


def call(spec):
    fn, *args = spec.split(":")
    if fn == "getgrouplist":
        return sorted(os.getgrouplist(args[0], int(args[1])))
    if fn == "initgroups":
        os.initgroups(args[0], int(args[1]))
        return sorted(os.getgroups())
    if fn == "getgrnam":
        g = found(grp.getgrnam, args[0])
        return None if g is None else sorted(g.gr_mem)
    if fn == "getgrgid":
        g = found(grp.getgrgid, int(args[0]))
        return None if g is None else sorted(g.gr_mem)
    if fn == "getpwnam":
        p = found(pwd.getpwnam, args[0])
        return None if p is None else [p.pw_uid, p.pw_gid]
    if fn == "getpwuid":
        p = found(pwd.getpwuid, int(args[0]))
        return None if p is None else p.pw_name
    raise SystemExit(f"nss_longrun.py: unknown function {fn}")


def main():
    specs = sys.argv[1].split(";")
    while sys.stdin.readline():
        print(json.dumps({spec: call(spec) for spec in specs}), flush=True)


if __name__ == "__main__":
    main()
