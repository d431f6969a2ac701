#!/usr/bin/env python3
"""Usher's sync benchmark: `usherd --once` against scim2-server at 10k users / 1k groups and
100k users / 10k groups (each user in 5 groups), plus the same directories from a file source.

    sudo bench/sync_bench.py [--sizes 10000:1000,100000:10000] [--per-user 5]
                             [--seed-budget 420] [--tmpfs] [--out bench/SYNC_RESULTS.md]

Reports, per size and source: the full sync's wall time, usherd's own CPU time (user+sys, from
wait4) and peak RSS (ru_maxrss), the SCIM server's CPU time during the sync (/proc/PID/stat before
and after), the snapshot publish time (from inotify: the temp file's creation to its rename over
cache.db), and an unchanged re-sync (wall time, and whether cache.db's inode/mtime changed).
Prints a markdown table and writes it, with the date and the machine, to --out.

It runs as root and re-executes itself inside a private namespace (tests/e2e/ns-setup.sh): the
cache path /var/lib/usher is compiled in, and must not be the machine's. Inside, /var/lib/usher is
a fresh directory on the disk that holds $TMPDIR (bind-mounted), so the publish pays for real
fsyncs; --tmpfs keeps ns-setup's tmpfs instead.

Seeding scim2-server is slow (POST /Bulk, ~17 s per 10k users on a 2-core machine). When the
projected seeding time of a size exceeds --seed-budget seconds, that size is measured with the
file source only, and the report says so.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "tools"
sys.path.insert(0, str(TOOLS))

import gen_directory  # noqa: E402
import scim_seed  # noqa: E402

TARGET = Path(os.environ.get("USHER_TARGET", ROOT / "target"))
USHERD = TARGET / "release" / "usherd"
USHER_DIR = Path("/var/lib/usher")
CACHE = USHER_DIR / "cache.db"
TOKEN = "bench-token-not-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- namespace -------------------------------------------------------------------------------

def in_namespace():
    return bool(os.environ.get("NS")) and os.environ.get("USHER_BENCH_INSIDE") == "1"


def reexec_in_namespace(argv):
    if os.geteuid() != 0:
        sys.exit("sync_bench.py: must run as root (it uses a private mount namespace)")
    script = ('. "$0/tests/e2e/ns-setup.sh"; export USHER_BENCH_INSIDE=1; '
              'exec python3 "$0/bench/sync_bench.py" "$@"')
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                          "--kill-child", "--mount-proc", "bash", "-c", script, str(ROOT), *argv])


def use_disk_for_cache():
    """Bind a fresh directory on the disk of $TMPDIR over /var/lib/usher (inside the namespace)."""
    disk = Path(tempfile.mkdtemp(prefix="usher-bench-"))
    subprocess.run(["mount", "--bind", str(disk), str(USHER_DIR)], check=True)
    return disk


def fs_type(path):
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True,
                         text=True)
    lines = out.stdout.split()
    return lines[-1] if lines else "unknown"  # stacked mounts: the last is the one on top


# --- measuring -------------------------------------------------------------------------------

IN_CREATE = 0x100
IN_MOVED_TO = 0x80
EVENT = struct.Struct("iIII")


class PublishWatch:
    """inotify on /var/lib/usher: when the publish's temp file appears and when it is renamed
    over cache.db (monotonic times)."""

    def __init__(self, directory):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, str(directory).encode(), IN_CREATE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.events = []
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            ready, _, _ = select.select([self.fd, self.stop_r], [], [])
            now = time.monotonic()
            if self.fd not in ready:
                return
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                _, mask, _, length = EVENT.unpack_from(data, offset)
                name = data[offset + EVENT.size: offset + EVENT.size + length].rstrip(b"\0").decode()
                self.events.append((now, mask, name))
                offset += EVENT.size + length

    def close(self):
        os.write(self.stop_w, b"x")
        self.thread.join(5)
        for fd in (self.fd, self.stop_r, self.stop_w):
            os.close(fd)

    def publish(self, since):
        """(temp file created, renamed over cache.db) after `since`, or None."""
        created = next((t for t, m, n in self.events
                        if t >= since and m & IN_CREATE and n.startswith(".cache.db.tmp.")), None)
        renamed = next((t for t, m, n in self.events
                        if t >= since and m & IN_MOVED_TO and n == "cache.db"), None)
        return (created, renamed) if created and renamed else None


def proc_cpu(pid):
    """user+sys CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def cache_id():
    try:
        st = CACHE.stat()
        return st.st_ino, st.st_mtime_ns, st.st_size
    except FileNotFoundError:
        return None


# usherd is started by a small launcher that forks it: a child forked (or vforked) straight from
# this process would inherit this process's RSS high-water mark into its ru_maxrss at exec (Linux
# records the pre-exec mm's peak), and this process holds the whole generated directory.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "user": ru.ru_utime, "sys": ru.ru_stime,
               "maxrss_kib": ru.ru_maxrss}, f)
"""


def launcher_floor_kib():
    """The launcher's own fork-time RSS, which bounds ru_maxrss from below (reported)."""
    out = Path(tempfile.mktemp(prefix="usher-bench-rusage-"))
    subprocess.run([sys.executable, "-c", LAUNCHER, str(out), "/bin/true"], check=True)
    try:
        return json.loads(out.read_text())["maxrss_kib"]
    finally:
        out.unlink()


def run_once(config, log_path, watch, server_pid=None):
    """`usherd --config CONFIG --once` as a child: wall, CPU, peak RSS, publish, server CPU."""
    before = cache_id()
    usage_path = Path(log_path).with_suffix(".rusage.json")
    server_before = proc_cpu(server_pid) if server_pid else None
    start = time.monotonic()
    with open(log_path, "ab") as log:
        subprocess.run([sys.executable, "-c", LAUNCHER, str(usage_path), str(USHERD),
                        "--config", str(config), "--once"],
                       stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True)
    wall = time.monotonic() - start
    server_cpu = (proc_cpu(server_pid) - server_before) if server_pid else None
    usage = json.loads(usage_path.read_text())
    if usage["exit"] != 0:
        raise RuntimeError(f"usherd --once exited {usage['exit']}; see {log_path}:\n"
                           + Path(log_path).read_text()[-3000:])
    time.sleep(0.05)  # let the inotify thread read the last events
    after = cache_id()
    publish = watch.publish(start)
    last_line = [line for line in Path(log_path).read_text().splitlines() if "sync from" in line][-1]
    return {
        "wall": wall,
        "cpu": usage["user"] + usage["sys"],
        "cpu_user": usage["user"],
        "cpu_sys": usage["sys"],
        "rss_mib": usage["maxrss_kib"] / 1024,
        "server_cpu": server_cpu,
        "publish": (publish[1] - publish[0]) if publish else None,
        "to_publish": (publish[0] - start) if publish else None,
        "written": before != after,
        "cache_mib": (after[2] / 2**20) if after else None,
        "log": last_line.split(": ", 1)[-1],
    }


# --- the SCIM server -------------------------------------------------------------------------

class Server:
    def __init__(self, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v2"
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [shutil.which("scim2-server") or "scim2-server", "--hostname", "127.0.0.1",
                 "--port", str(self.port), "--bearer-token", TOKEN,
                 "--schema", str(ROOT / "tests/scim/schemas-posix.json"),
                 "--resource-type", str(ROOT / "tests/scim/resource-types-posix.json")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("scim2-server did not start") from None
                time.sleep(0.1)
        self.client = scim_seed.ScimClient(self.url, TOKEN, timeout=1800)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_within_budget(server, directory, budget, progress):
    """Seeds users in chunks of 10k, then groups. Returns the seeding time, or None (and stops)
    when the projected total exceeds `budget` seconds."""
    client = server.client
    limits = client.bulk_limits()
    if not limits:
        raise RuntimeError("scim2-server does not announce bulk support")
    users = directory["Users"]
    groups = directory["Groups"]
    members = sum(len(g["members"]) for g in groups)
    start = time.monotonic()
    id_map = {}
    chunk = 10000
    for k in range(0, len(users), chunk):
        id_map.update(scim_seed.bulk_create(client, "/Users", users[k:k + chunk], limits))
        elapsed = time.monotonic() - start
        done = min(k + chunk, len(users))
        # A group member reference costs about 1/8 of a user (measured: 100k users 185 s,
        # 10k groups with 500k member references 103 s).
        projected = elapsed / done * (len(users) + members / 8)
        progress(f"  seeded {done} users in {elapsed:.0f} s (projected total {projected:.0f} s)")
        if projected > budget:
            progress(f"  projected seeding time {projected:.0f} s > budget {budget} s: file source only")
            return None, projected
    mapped = [dict(g, members=[dict(m, value=id_map[m["value"]]) for m in g["members"]])
              for g in groups]
    scim_seed.bulk_create(client, "/Groups", mapped, limits)
    return time.monotonic() - start, None


# --- the benchmark ---------------------------------------------------------------------------

def write_config(path, directory_section):
    lines = ["[directory]"]
    for k, v in directory_section.items():
        lines.append(f"{k} = {json.dumps(v)}")
    # A first sync of a large directory is not a mass deletion; keep the guard out of the way.
    lines += ["", "[sync]", "max_delete_share = 1.0", ""]
    path.write_text("\n".join(lines))


def fresh_cache_dir():
    for entry in USHER_DIR.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def bench_size(n_users, n_groups, per_user, args, work, watch, progress):
    progress(f"== {n_users} users / {n_groups} groups")
    directory = gen_directory.build_directory(n_users, n_groups, per_user, seed=42)
    dir_json = work / f"directory-{n_users}.json"
    dir_json.write_text(json.dumps(directory))
    rows = []
    notes = []

    # File source.
    config = work / f"file-{n_users}.toml"
    write_config(config, {"kind": "file", "path": str(dir_json)})
    fresh_cache_dir()
    for run in ("full", "unchanged"):
        progress(f"  file source, {run} sync")
        r = run_once(config, work / f"usherd-file-{n_users}.log", watch)
        rows.append(dict(r, users=n_users, groups=n_groups, source="file", run=run))
    if "scim" not in args.sources:
        return rows, notes

    # SCIM source.
    server = Server(work / f"scim2-server-{n_users}.log")
    try:
        progress("  seeding scim2-server (POST /Bulk)")
        seeded, projected = seed_within_budget(server, directory, args.seed_budget, progress)
        if seeded is None:
            notes.append(f"{n_users} users: seeding scim2-server was projected to take "
                         f"{projected:.0f} s (> --seed-budget {args.seed_budget} s); measured with "
                         "the file source only.")
        else:
            notes.append(f"{n_users} users / {n_groups} groups seeded into scim2-server in "
                         f"{seeded:.0f} s (POST /Bulk, 1000 operations per request).")
            token = work / "token"
            token.write_text(TOKEN)
            token.chmod(0o600)
            config = work / f"scim-{n_users}.toml"
            write_config(config, {"kind": "scim", "url": server.url, "token_file": str(token),
                                  "page_size": 1000, "request_timeout": 1800})
            fresh_cache_dir()
            for run in ("full", "unchanged"):
                progress(f"  SCIM source, {run} sync")
                r = run_once(config, work / f"usherd-scim-{n_users}.log", watch,
                             server_pid=server.process.pid)
                rows.append(dict(r, users=n_users, groups=n_groups, source="scim", run=run))
    finally:
        server.stop()
    for r in rows:
        expected = "published generation" if r["run"] == "full" else "unchanged generation"
        if expected not in r["log"]:
            notes.append(f"{n_users} users, {r['source']} {r['run']} sync logged: {r['log']}")
    return rows, notes


def fmt(v, spec=".2f"):
    return "–" if v is None else format(v, spec)


def table(rows):
    out = ["| users / groups | source | sync | wall s | usherd CPU s (user+sys) | usherd peak RSS MiB "
           "| server CPU s | fetch+map s | publish s | cache written | cache MiB |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        written = "yes" if r["written"] else "no (same inode, mtime)"
        out.append(
            f"| {r['users']:,} / {r['groups']:,} | {r['source']} | {r['run']} | {fmt(r['wall'])} "
            f"| {fmt(r['cpu'])} ({fmt(r['cpu_user'])}+{fmt(r['cpu_sys'])}) | {fmt(r['rss_mib'], '.1f')} "
            f"| {fmt(r['server_cpu'])} | {fmt(r['to_publish'])} | {fmt(r['publish'], '.3f')} "
            f"| {written} | {fmt(r['cache_mib'], '.1f')} |")
    return "\n".join(out)


def targets(rows):
    out = []
    scim_full = [r for r in rows if r["source"] == "scim" and r["run"] == "full"]
    for r in scim_full:
        ratio = r["cpu"] / r["server_cpu"] if r["server_cpu"] else float("nan")
        out.append(f"- usherd CPU well under the server's ({r['users']:,} users): usherd "
                   f"{r['cpu']:.2f} s vs scim2-server {r['server_cpu']:.2f} s "
                   f"({ratio:.1%}) — {'met' if ratio < 0.5 else 'NOT met'}")
    biggest = max(r["users"] for r in rows)
    for r in (r for r in rows if r["users"] == biggest and r["run"] == "full"):
        out.append(f"- peak RSS < 64 MiB at {biggest:,} users ({r['source']} source): "
                   f"{r['rss_mib']:.1f} MiB — {'met' if r['rss_mib'] < 64 else 'NOT met'}")
        if r["publish"] is not None:
            out.append(f"- publish < 1 s at {biggest:,} users ({r['source']} source): "
                       f"{r['publish']:.3f} s — {'met' if r['publish'] < 1 else 'NOT met'}")
    unchanged = [r for r in rows if r["run"] == "unchanged"]
    ok = all(not r["written"] for r in unchanged)
    out.append(f"- an unchanged re-sync writes nothing: {'met' if ok else 'NOT met'} "
               f"(cache.db inode and mtime unchanged in {sum(not r['written'] for r in unchanged)} "
               f"of {len(unchanged)} unchanged re-syncs; each logged \"unchanged generation …\")")
    return "\n".join(out)


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, Linux {platform.release()}"


def versions():
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    try:
        from importlib.metadata import version
        scim = version("scim2-server")
    except Exception:  # noqa: BLE001 - informative only
        scim = "unknown"
    return f"usher {rev}{' (with uncommitted changes)' if dirty else ''}, scim2-server {scim}, Python {platform.python_version()}"


def main():
    global USHERD
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:1000,100000:10000",
                        help="USERS:GROUPS,... (default 10000:1000,100000:10000)")
    parser.add_argument("--per-user", type=int, default=5, help="groups per user (default 5)")
    parser.add_argument("--seed-budget", type=int, default=420,
                        help="seconds of SCIM seeding allowed per size (default 420)")
    parser.add_argument("--tmpfs", action="store_true", help="keep /var/lib/usher on tmpfs")
    parser.add_argument("--sources", default="file,scim",
                        help="file,scim (default) or file: skip the SCIM server")
    parser.add_argument("--out", default=str(ROOT / "bench" / "SYNC_RESULTS.md"))
    args = parser.parse_args()
    if not in_namespace():
        reexec_in_namespace(sys.argv[1:])
    if not USHERD.exists():
        sys.exit(f"{USHERD} is not built: cargo build --release")

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    disk = None if args.tmpfs else use_disk_for_cache()
    cache_fs = fs_type(USHER_DIR)
    work = Path(os.environ["NS"]) / "bench"
    work.mkdir()
    # A private copy: a rebuild of target/ during the run must not change what is measured.
    USHERD = Path(shutil.copy2(USHERD, work / "usherd"))
    watch = PublishWatch(USHER_DIR)
    rows, notes = [], []
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    floor = launcher_floor_kib() / 1024
    try:
        for size in args.sizes.split(","):
            n_users, n_groups = (int(x) for x in size.split(":"))
            r, n = bench_size(n_users, n_groups, args.per_user, args, work, watch, progress)
            rows += r
            notes += n
    finally:
        load_after = os.getloadavg()
        watch.close()
        if disk:
            subprocess.run(["umount", str(USHER_DIR)], check=False)
            shutil.rmtree(disk, ignore_errors=True)

    report = "\n".join([
        "# Sync benchmark (`bench/sync_bench.py`)",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- software: {versions()}",
        f"- directory: `gen_directory.py`, each user in {args.per_user} groups and with a "
        "user-private group; SCIM listings with `count=1000` (scim2-server's cap)",
        f"- cache on {cache_fs} (/var/lib/usher in a private namespace), so the publish includes "
        "fsyncs" + ("" if cache_fs != "tmpfs" else " (no-ops on tmpfs)"),
        "- `usherd --once` each time; full = empty /var/lib/usher; unchanged = the same run again",
        f"- load average (1 min) {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end "
        "(2 CPUs; other work on the machine inflates wall times, less so CPU times)",
        "",
        table(rows),
        "",
        "Columns: wall = the `usherd --once` process from start to exit; usherd CPU and peak RSS "
        "from `wait4`; server CPU = scim2-server's utime+stime (/proc/PID/stat) across the run; "
        "fetch+map = from start until the publish's temp file appears (inotify); publish = temp "
        "file created → renamed over cache.db (build, fsync, rename); cache written = whether "
        "cache.db's inode/mtime/size changed. Peak RSS is measured through a small launcher "
        f"that forks usherd (so this script's own memory is not counted); its floor is {floor:.1f} MiB "
        "(/bin/true measured the same way).",
        "",
        "## Targets",
        "",
        targets(rows),
        "",
        "## Notes",
        "",
        *[f"- {n}" for n in notes],
        "",
    ])
    print(report)
    Path(args.out).write_text(report)
    progress(f"written to {args.out}")


if __name__ == "__main__":
    main()
