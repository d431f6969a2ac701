#!/usr/bin/env python3
"""Corrupt a real Usher cache many ways and look at what real programs answer from each copy.

Run by tests/e2e/test_cache_corruption.sh inside the test namespace (as root, with
libnss_usher.so.2 and pam_usher.so installed). For each mutation of GOOD (bit flips anywhere or in
the pages of one table, zeroed, swapped and copied pages, overwritten ranges, truncation at a page
boundary and mid-page; the page size and each table's pages are read from the file) the copy is
installed as the published cache (root-owned, 0644, by rename: a new inode, as usherd publishes)
and these run, each with a time limit:

  getent passwd | group            (enumeration, files + usher)
  getent -s usher passwd | group   (the module alone)
  getent passwd root               (root must always answer, from files)
  getent passwd|initgroups USER, id USER, pamtester sshd USER acct_mgmt   for a few directory users

Counted, and any one of them fails the run: a death by signal, a timeout, an entry from Usher with
uid 0 or gid 0 or an empty or invalid name (or an invalid member name), a local name answered
twice, root not answered as /etc/passwd has it, a uid 0 / gid 0 from `id` or `initgroups` for a
directory user, and pamtester granting a user the good cache refuses. Answers that are merely
missing (UNAVAIL, not found) are fine: that is what a corrupt cache should give.

usage: cache_corruption.py GOOD_CACHE --users FILE [--count N] [--seed N] [--timeout S]
"""
import argparse
import os
import random
import re
import sqlite3
import subprocess
import sys
import time

CACHE = "/var/lib/usher/cache.db"
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")


def invalid_name(name):
    """Why `name` is not a name Usher may serve (the mapping's rule), or None."""
    if not name:
        return "empty name"
    if not NAME_RE.match(name) or name.isdigit():
        return "invalid name"
    return None


def local_names(path):
    names = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                names.append(line.split(":", 1)[0])
    return names


class Pages:
    """The page size and, per table or index, its pages (from SQLite's dbstat)."""

    def __init__(self, path, data):
        size = int.from_bytes(data[16:18], "big")
        self.size = 65536 if size == 1 else size
        self.count = len(data) // self.size
        self.by_table = {}
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            for name, pageno in conn.execute("SELECT name, pageno FROM dbstat"):
                self.by_table.setdefault(name, []).append(pageno - 1)  # 0-based
        finally:
            conn.close()
        self.tables = sorted(self.by_table)


def mutate(rng, good, pages):
    """One mutation: (description, bytes)."""
    data = bytearray(good)
    ps, n = pages.size, pages.count
    kind = rng.choice(["flip", "flip-table", "flip-table", "zero", "zero-table", "swap",
                       "swap-table", "copy-table", "overwrite", "truncate-page", "truncate-mid"])
    if kind == "flip":
        offs = [rng.randrange(len(data)) for _ in range(rng.randint(1, 4))]
        for o in offs:
            data[o] ^= 1 << rng.randrange(8)
        return f"flip bits at {offs}", bytes(data)
    if kind == "flip-table":
        table = rng.choice(pages.tables)
        page = rng.choice(pages.by_table[table])
        offs = [page * ps + rng.randrange(ps) for _ in range(rng.randint(1, 3))]
        for o in offs:
            data[o] ^= 1 << rng.randrange(8)
        return f"flip bits in {table} page {page + 1} at {offs}", bytes(data)
    if kind in ("zero", "zero-table"):
        if kind == "zero":
            page, where = rng.randrange(1, n), "page"
        else:
            table = rng.choice(pages.tables)
            page, where = rng.choice(pages.by_table[table]), f"{table} page"
        data[page * ps:(page + 1) * ps] = bytes(ps)
        return f"zero {where} {page + 1}", bytes(data)
    if kind in ("swap", "swap-table", "copy-table"):
        if kind == "swap":
            a, b, where = rng.randrange(n), rng.randrange(n), "pages"
        else:
            # Two pages of one table: each still looks like a page of the right kind.
            table = rng.choice([t for t in pages.tables if len(pages.by_table[t]) > 1]
                               or pages.tables)
            a, b = rng.choice(pages.by_table[table]), rng.choice(pages.by_table[table])
            where = f"{table} pages"
        pa, pb = bytes(data[a * ps:(a + 1) * ps]), bytes(data[b * ps:(b + 1) * ps])
        if kind == "copy-table":
            data[b * ps:(b + 1) * ps] = pa
            return f"copy {where} {a + 1} over {b + 1}", bytes(data)
        data[a * ps:(a + 1) * ps], data[b * ps:(b + 1) * ps] = pb, pa
        return f"swap {where} {a + 1} and {b + 1}", bytes(data)
    if kind == "overwrite":
        start = rng.randrange(len(data))
        length = rng.choice([1, 2, 4, 8, 16, 64, 512])
        chunk = bytes(rng.randrange(256) for _ in range(length))
        data[start:start + length] = chunk[:max(0, len(data) - start)]
        return f"overwrite {length} bytes at {start}", bytes(data)
    if kind == "truncate-page":
        cut = rng.randrange(1, n) * ps
        return f"truncate at page boundary {cut}", bytes(data[:cut])
    cut = rng.randrange(1, len(data))
    return f"truncate at {cut}", bytes(data[:cut])


def install(data):
    tmp = os.path.join(os.path.dirname(CACHE), ".cache.db.corrupt")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chown(tmp, 0, 0)
    os.chmod(tmp, 0o644)
    os.rename(tmp, CACHE)


class Run:
    def __init__(self, timeout):
        self.timeout = timeout
        self.commands = 0
        self.violations = {}
        self.examples = []
        self.what = ""

    def violation(self, kind, detail):
        self.violations[kind] = self.violations.get(kind, 0) + 1
        # A few examples of each kind (one mutation can give hundreds of the same).
        if self.violations[kind] <= 3:
            self.examples.append(f"{kind}: {detail}  [after: {self.what}]")

    def cmd(self, *argv):
        """Runs argv; returns (exit status, stdout) or None after a signal or a timeout."""
        self.commands += 1
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.violation("timeout", " ".join(argv))
            return None
        if p.returncode < 0:
            self.violation("death by signal", f"{' '.join(argv)}: signal {-p.returncode}")
            return None
        return p.returncode, p.stdout.decode("utf-8", errors="replace")


def check_passwd_line(run, line, cmd):
    f = line.split(":")
    if len(f) != 7:
        run.violation("malformed passwd line", f"{cmd}: {line!r}")
        return
    reason = invalid_name(f[0])
    if reason:
        run.violation(f"passwd entry with {reason}", f"{cmd}: {line!r}")
    if f[2] == "0":
        run.violation("passwd entry with uid 0", f"{cmd}: {line!r}")
    if f[3] == "0":
        run.violation("passwd entry with gid 0", f"{cmd}: {line!r}")


def check_group_line(run, line, cmd):
    f = line.split(":")
    if len(f) != 4:
        run.violation("malformed group line", f"{cmd}: {line!r}")
        return
    reason = invalid_name(f[0])
    if reason:
        run.violation(f"group entry with {reason}", f"{cmd}: {line!r}")
    if f[2] == "0":
        run.violation("group entry with gid 0", f"{cmd}: {line!r}")
    for m in filter(None, f[3].split(",")):
        if invalid_name(m):
            run.violation("group entry with an invalid member name", f"{cmd}: {line!r}")
            break


def check_enumeration(run, db, local, check_line, what):
    """getent DB (files + usher) and getent -s usher DB."""
    for argv in (["getent", db], ["getent", "-s", "usher", db]):
        r = run.cmd(*argv)
        if r is None:
            continue
        lines = [l for l in r[1].splitlines() if l]
        seen = {}
        for line in lines:
            name = line.split(":", 1)[0]
            seen[name] = seen.get(name, 0) + 1
            from_usher = "-s" in argv or name not in local
            if from_usher:
                check_line(run, line, " ".join(argv))
            if "-s" in argv and name in local:
                run.violation(f"{what} of a local name from Usher", f"{line!r}")
        if "-s" not in argv:
            for name, count in seen.items():
                if name in local and count > local[name]:
                    run.violation(f"{what} of a local name answered twice", name)


def check_user(run, user, refused):
    r = run.cmd("getent", "passwd", user)
    if r and r[0] == 0:
        for line in r[1].splitlines():
            check_passwd_line(run, line, f"getent passwd {user}")
    r = run.cmd("getent", "initgroups", user)
    if r and r[0] == 0:
        gids = r[1].split()[1:]
        if "0" in gids:
            run.violation("initgroups gives gid 0", f"{user}: {r[1].strip()}")
    r = run.cmd("id", user)
    if r and r[0] == 0:
        out = r[1].strip()
        # A name may be missing (getpwuid can fail where getpwnam worked); `id` then also asks
        # getgrouplist for gid -1, which it prints as 4294967295: neither is Usher's answer.
        m = re.match(r"uid=(\d+)(?:\((.*?)\))? gid=(\d+)", out)
        if not m:
            run.violation("malformed id output", out)
        else:
            if m.group(1) == "0" or m.group(3) == "0":
                run.violation("id gives uid or gid 0", out)
            if m.group(2) is not None and invalid_name(m.group(2)):
                run.violation("id gives an invalid name", out)
        if re.search(r"groups=(.*,)?0\(", out):
            run.violation("id lists group 0", out)
    r = run.cmd("pamtester", "sshd", user, "acct_mgmt")
    if r and r[0] == 0 and user in refused:
        run.violation("pam grants a user the good cache refuses", user)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("good")
    ap.add_argument("--users", required=True, help="file of directory user names, one a line")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    with open(args.good, "rb") as f:
        good = f.read()
    with open(args.users) as f:
        users = [u.strip() for u in f if u.strip()]
    pages = Pages(args.good, good)
    local = {}
    for n in local_names("/etc/passwd"):
        local[n] = local.get(n, 0) + 1
    local_groups = {}
    for n in local_names("/etc/group"):
        local_groups[n] = local_groups.get(n, 0) + 1
    root_line = next(l.rstrip("\n") for l in open("/etc/passwd") if l.startswith("root:"))
    rng = random.Random(args.seed)
    run = Run(args.timeout)
    print(f"seed {args.seed}, {args.count} mutations of a {len(good)}-byte cache "
          f"({pages.count} pages of {pages.size} bytes, tables: {', '.join(pages.tables)})")

    # The users probed (40 of them, spread over the file), and what the good cache answers pam for
    # each: corruption must never turn a no into a yes.
    users = sorted(rng.sample(users, min(40, len(users))))
    install(good)
    refused = set()
    for u in users:
        r = run.cmd("pamtester", "sshd", u, "acct_mgmt")
        if r is None or r[0] != 0:
            refused.add(u)
    print(f"good cache: {len(users) - len(refused)} of {len(users)} probed users pass pam acct_mgmt")
    if run.violations:
        print("the good cache already fails:", run.examples)
        return 1

    started = time.monotonic()
    kinds = {}
    for i in range(args.count):
        what, data = mutate(rng, good, pages)
        run.what = f"mutation {i}: {what}"
        kinds[what.split(" ")[0]] = kinds.get(what.split(" ")[0], 0) + 1
        install(data)
        check_enumeration(run, "passwd", local, check_passwd_line, "passwd entry")
        check_enumeration(run, "group", local_groups, check_group_line, "group entry")
        r = run.cmd("getent", "passwd", "root")
        if r is not None and (r[0] != 0 or r[1].strip() != root_line):
            run.violation("root not answered", f"exit {r[0]}: {r[1]!r}")
        probes = rng.sample(users, min(2, len(users))) + ["nosuchuser"]
        for u in probes:
            check_user(run, u, refused)
    elapsed = time.monotonic() - started
    install(good)

    print(f"{args.count} mutations ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
          f"{run.commands} commands, {elapsed:.1f} s")
    if not run.violations:
        print("no death by signal, no timeout, no uid/gid 0 or invalid name from Usher, "
              "root always answered, no access granted by corruption")
        return 0
    print("VIOLATIONS:")
    for kind, n in sorted(run.violations.items()):
        print(f"  {n:6d}  {kind}")
    print("first examples:")
    for e in run.examples:
        print("  " + e)
    return 1


if __name__ == "__main__":
    sys.exit(main())
