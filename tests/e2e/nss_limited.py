#!/usr/bin/env python3
"""Run a command under an address-space limit and say how it ended (for test_nss_alloc.sh).

usage: nss_limited.py LIMIT_KIB CMD [ARGS...]     (LIMIT_KIB 0: no limit)
       nss_limited.py --calibrate CMD [ARGS...]

Run mode prints one line, `exit N` or `signal N` (from waitpid: WIFSIGNALED is told apart from
an exit status, which a shell's 128+N is not), then the command's stdout line count, its stderr's
last line and its stdout's first line (at most 300 characters); exits 0 either way.

Calibrate mode prints the smallest limit (KiB, to 64 KiB) under which CMD still exits 0: the
memory the command needs for an ordinary answer.
"""
import os
import resource
import subprocess
import sys


def run(limit_kib, cmd):
    def limit():
        if limit_kib > 0:
            size = limit_kib * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    p = subprocess.run(cmd, preexec_fn=limit, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr


def main():
    if sys.argv[1] == "--calibrate":
        cmd = sys.argv[2:]
        rc, _, err = run(0, cmd)
        if rc != 0:
            sys.exit(f"nss_limited.py: {cmd} fails without a limit ({rc}): {err!r}")
        lo, hi = 1024, 4 * 1024 * 1024  # KiB: lo fails, hi works
        if run(lo, cmd)[0] == 0:
            sys.exit("nss_limited.py: the command works under 1 MiB; cannot calibrate")
        while hi - lo > 64:
            mid = (lo + hi) // 2
            if run(mid, cmd)[0] == 0:
                hi = mid
            else:
                lo = mid
        print(hi)
        return
    rc, out, err = run(int(sys.argv[1]), sys.argv[2:])
    status = f"signal {-rc}" if rc < 0 else f"exit {rc}"
    last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
    print(status)
    print(len(out.splitlines()))
    print(last[0])
    print((out.decode(errors="replace").splitlines()[:1] or [""])[0][:300])


if __name__ == "__main__":
    main()
