"""Helpers for usherd's end-to-end tests (tests/daemon): the SCIM server, the fault proxy, the
daemon under test, and the host's view through getent/id/usherctl.

Everything here runs inside the private namespace that tests/daemon/run.sh makes (see
tests/e2e/ns-setup.sh): /etc is an overlay, /var/lib/usher and /run are fresh tmpfs, /dev/log is
a sink writing to $USHER_NS_LOG. Every wait is bounded; every process started here is stopped by
its own pid.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tests" / "tools"
SCIM_FILES = ROOT / "tests" / "scim"
sys.path.insert(0, str(TOOLS))

import fault_proxy  # noqa: E402
import gen_directory  # noqa: E402
import scim_seed  # noqa: E402

TARGET = Path(os.environ.get("USHER_TARGET", ROOT / "target"))
USHERD = TARGET / "release" / "usherd"
USHERCTL = TARGET / "release" / "usherctl"
NSS_SO = TARGET / "release" / "libnss_usher.so"

USHER_DIR = Path("/var/lib/usher")
CACHE = USHER_DIR / "cache.db"
STATE = USHER_DIR / "private" / "state.json"

# Distinctive, so a leak into any log is found by a plain substring search.
TOKEN = "usher-e2e-token-" + secrets.token_hex(16)

USER_SCHEMA = gen_directory.USER_SCHEMA
GROUP_SCHEMA = gen_directory.GROUP_SCHEMA
POSIX_USER = gen_directory.POSIX_USER_SCHEMA
POSIX_GROUP = gen_directory.POSIX_GROUP_SCHEMA


# --- generic helpers -------------------------------------------------------------------------

def ns_dir():
    return Path(os.environ["NS"])


def syslog_text():
    """Everything logged to /dev/log in this namespace so far."""
    return Path(os.environ["USHER_NS_LOG"]).read_text(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns something truthy (returned); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def stop_process(process, grace=10):
    """SIGTERM to a child we started (by its pid), SIGKILL after `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(*args, timeout=60, check=False, input=None):
    """Runs a command; returns CompletedProcess with text stdout/stderr."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}\n"
                             f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def mounted(path, fstype):
    """Whether `path` is a mount point of type `fstype` in this mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) > 4 and fields[4] == path and right.split()[0] == fstype:
                return True
    return False


def in_private_namespace():
    return (os.geteuid() == 0 and bool(os.environ.get("NS")) and mounted("/etc", "overlay")
            and mounted("/var/lib/usher", "tmpfs") and mounted("/run", "tmpfs"))


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a valid TOML basic string


def toml_text(sections):
    out = []
    for name, table in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None)
        out.append("")
    return "\n".join(out)


def empty_dir(path):
    for entry in Path(path).iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def cache_fingerprint():
    """(bytes, inode, mtime_ns) of the published cache, or None when there is none."""
    try:
        st = CACHE.stat()
        return CACHE.read_bytes(), st.st_ino, st.st_mtime_ns
    except FileNotFoundError:
        return None


def temp_files():
    """Temp files a publisher leaves beside the cache (`.cache.db.tmp.PID`)."""
    return sorted(p.name for p in USHER_DIR.iterdir() if p.name.startswith(".cache.db.tmp."))


def cache_meta(path=CACHE):
    """The cache's meta table and counts, read from a copy (sqlite may write beside a file)."""
    copy = ns_dir() / "cache-copy.db"
    shutil.copyfile(path, copy)
    try:
        db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            meta["integrity"] = db.execute("PRAGMA integrity_check").fetchone()[0]
            meta["users"] = db.execute("SELECT count(*) FROM users").fetchone()[0]
            meta["groups"] = db.execute("SELECT count(*) FROM groups").fetchone()[0]
            return meta
        finally:
            db.close()
    finally:
        copy.unlink()


# --- resources -------------------------------------------------------------------------------

def user_resource(name, uid=None, gid=None, shell="/bin/bash", active=True, display=None,
                  home=None, extra=None):
    posix = {"loginShell": shell, "homeDirectory": home or f"/home/{name}"}
    if uid is not None:
        posix["uidNumber"] = uid
    if gid is not None:
        posix["gidNumber"] = gid
    resource = {
        "schemas": [USER_SCHEMA, POSIX_USER],
        "userName": name,
        "displayName": display or f"{name.title()} Example",
        "active": active,
        "emails": [{"value": f"{name}@example.com", "primary": True}],
        POSIX_USER: posix,
    }
    resource.update(extra or {})
    return resource


def group_resource(name, gid=None, member_ids=()):
    resource = {
        "schemas": [GROUP_SCHEMA, POSIX_GROUP] if gid is not None else [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": i} for i in member_ids],
    }
    if gid is not None:
        resource[POSIX_GROUP] = {"gidNumber": gid}
    return resource


# --- the SCIM server and the proxy ------------------------------------------------------------

class ScimServer:
    """scim2-server with --dynamic-tenants: each test gets its own empty tenant (/TENANT/v2)."""

    def __init__(self, log_path, extra_args=()):
        executable = shutil.which("scim2-server")
        if not executable:
            raise RuntimeError("scim2-server is not installed (pip install scim2-server)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [executable, "--hostname", "127.0.0.1", "--port", str(self.port),
                 "--bearer-token", TOKEN, "--dynamic-tenants",
                 "--schema", str(SCIM_FILES / "schemas-posix.json"),
                 "--resource-type", str(SCIM_FILES / "resource-types-posix.json"), *extra_args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for(self._answers, 30, "scim2-server to listen")
        except AssertionError:
            self.stop()
            raise

    def _answers(self):
        if self.process.poll() is not None:
            raise RuntimeError("scim2-server exited:\n" + self.log_path.read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        stop_process(self.process)


class Proxy:
    """fault_proxy.py, run in this process so its request log carries arrival times."""

    def __init__(self, upstream, port=0):
        self.upstream = upstream
        self.server = fault_proxy.make_server("127.0.0.1", port, upstream)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = self.server.RequestHandlerClass.state
        original_record = self.state.record

        def record(entry):
            entry["time"] = time.time()
            original_record(entry)

        self.state.record = record
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_fault(self, mode, **options):
        return fault_proxy.set_fault(self.url, mode, **options)

    def reset(self):
        """Pass-through, log cleared."""
        return fault_proxy.reset_faults(self.url)

    def clear_fault(self):
        """Pass-through, log kept."""
        with self.state.lock:
            self.state.fault = None

    def log(self, tenant=None):
        entries = self.state.entries()
        if tenant:
            entries = [e for e in entries if e["path"].startswith(f"/{tenant}/")]
        return entries

    def stop(self):
        self.server.RequestHandlerClass.stopping.set()
        self.server.shutdown()
        self.server.server_close()


class ProxyProcess:
    """fault_proxy.py as a process of its own: stopping it closes every connection it holds
    (an in-process proxy's handler threads would keep serving keep-alive connections)."""

    def __init__(self, upstream, port=0):
        self.process = subprocess.Popen(
            [sys.executable, str(TOOLS / "fault_proxy.py"), "--listen", f"127.0.0.1:{port}",
             "--upstream", upstream], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"fault_proxy did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        stop_process(self.process)
        self.process.stdout.close()


# --- the daemon --------------------------------------------------------------------------------

class Daemon:
    def __init__(self, config, out_path, env=None, args=()):
        self.config = config
        self.out_path = out_path
        self.waited = False
        with open(out_path, "wb") as out:
            self.proc = subprocess.Popen([str(USHERD), "--config", str(config), *args],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid

    def output(self):
        return self.out_path.read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"usherd (pid {self.pid}) still running after {timeout} s:\n"
                                 + self.output()[-3000:]) from None
        self.waited = True
        return rc

    def stop(self, timeout=15):
        """SIGTERM; the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)
        self.waited = True

    def state(self):
        """The state file, if this daemon wrote it."""
        try:
            state = json.loads(STATE.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state if state.get("pid") == self.pid else None

    def attempts(self):
        return (self.state() or {}).get("attempts", 0)

    def wait_attempts(self, n, timeout=30):
        def done():
            if not self.alive():
                raise AssertionError(f"usherd exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            return self.attempts() >= n
        wait_for(done, timeout, f"usherd to finish {n} sync attempt(s)")
        return self.state()

    def wait_output(self, pattern, timeout, count=1):
        """Waits until `pattern` (regex) matches at least `count` lines; returns all matches."""
        regex = re.compile(pattern)

        def found():
            matches = [m for m in (regex.search(line) for line in self.output().splitlines()) if m]
            return matches if len(matches) >= count else None
        return wait_for(found, timeout, f"usherd to log /{pattern}/ x{count}")


# --- one test's host ---------------------------------------------------------------------------

class Host:
    """One test's world: a fresh SCIM tenant, a config pointing at it through the proxy, a token
    file, the daemons it started, and the host's view (getent, id, usherctl)."""

    def __init__(self, name, server, proxy, work):
        slug = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:40]
        self.tenant = f"{slug}-{secrets.token_hex(3)}"
        self.server = server
        self.proxy = proxy
        self.work = work
        self.scim = scim_seed.ScimClient(f"{server.url}/{self.tenant}/v2", TOKEN, timeout=300)
        self.url = f"{proxy.url}/{self.tenant}/v2"
        self.token_file = work / "token"
        self.token_file.write_text(TOKEN + "\n")
        self.token_file.chmod(0o600)
        self.config_path = work / "usher.toml"
        self.daemons = []
        self.ids = {}  # userName / displayName -> server id
        self.secrets = [TOKEN]
        self.outputs = []  # everything usherctl printed, for the token check
        self.write_config()

    def use_directory(self, server, proxy):
        """Point this host at another SCIM server (through `proxy`), on a fresh tenant."""
        self.server, self.proxy = server, proxy
        self.scim = scim_seed.ScimClient(f"{server.url}/{self.tenant}/v2", TOKEN, timeout=300)
        self.url = f"{proxy.url}/{self.tenant}/v2"
        self.write_config()

    # --- config
    def config_text(self, directory=None, sync=None, access=None, url=None):
        d = {"kind": "scim", "url": url or self.url, "token_file": str(self.token_file),
             "connect_timeout": 2, "request_timeout": 10}
        d.update(directory or {})
        s = {"interval": 2, "jitter": 0, "backoff_initial": 1, "backoff_max": 4}
        s.update(sync or {})
        sections = {"directory": d, "sync": s}
        if access:
            sections["access"] = access
        return toml_text(sections)

    def write_config(self, path=None, **kwargs):
        path = Path(path or self.config_path)
        path.write_text(self.config_text(**kwargs))
        return path

    # --- directory content
    def add_user(self, name, uid=None, **kwargs):
        created = self.scim.create_user(user_resource(name, uid, **kwargs))
        self.ids[name] = created["id"]
        return created

    def add_group(self, name, gid=None, members=()):
        created = self.scim.create_group(group_resource(name, gid, [self.ids[m] for m in members]))
        self.ids[name] = created["id"]
        return created

    def seed_team(self):
        """alice 5001, bob 5002, carol 5003, dan 5004 (own private groups);
        ops 6001 {alice, bob}, devs 6002 {carol}, admins 6003 {alice}."""
        for i, name in enumerate(["alice", "bob", "carol", "dan"]):
            self.add_user(name, 5001 + i, gid=5001 + i)
        self.add_group("ops", 6001, ["alice", "bob"])
        self.add_group("devs", 6002, ["carol"])
        self.add_group("admins", 6003, ["alice"])

    # --- the daemon
    def start(self, config=None, wait=True, env=None):
        daemon = Daemon(config or self.config_path, self.work / f"usherd-{len(self.daemons)}.log",
                        env=env)
        self.daemons.append(daemon)
        if wait:
            daemon.wait_attempts(1)
        return daemon

    def usherctl(self, *args, config=True, timeout=120):
        prefix = ["--config", str(self.config_path)] if config else []
        result = run(USHERCTL, *prefix, *args, timeout=timeout)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def sync(self, timeout=30):
        """`usherctl sync`: must succeed; returns its output."""
        result = self.usherctl("sync", "--timeout", str(timeout), timeout=timeout + 10)
        assert result.returncode == 0, f"usherctl sync failed ({result.returncode}): {result.stdout}{result.stderr}"
        return result.stdout

    def status(self):
        return self.usherctl("status")

    # --- the host's view
    @staticmethod
    def getent(db, key):
        """The entry's line, or None when getent says "not found" (exit 2)."""
        result = run("getent", db, key)
        if result.returncode == 2 and not result.stdout:
            return None
        assert result.returncode == 0, f"getent {db} {key}: exit {result.returncode}: {result.stderr}"
        return result.stdout.strip()

    def passwd(self, key):
        return self.getent("passwd", key)

    def group(self, key):
        return self.getent("group", key)

    def members(self, group):
        line = self.group(group)
        assert line is not None, f"group {group} not found"
        members = line.split(":")[3]
        return set(members.split(",")) if members else set()

    def initgroups(self, user):
        """The supplementary gids glibc gathers for `user` (getent initgroups: primary excluded)."""
        line = self.getent("initgroups", user)
        return None if line is None else {int(g) for g in line.split()[1:]}

    @staticmethod
    def id_groups(user):
        """`id -Gn USER` as a set of names (None: no such user)."""
        result = run("id", "-Gn", user)
        if result.returncode != 0:
            return None
        return set(result.stdout.split())

    # --- teardown
    def check_no_secret_leaked(self):
        places = {os.environ.get("USHER_NS_LOG", ""): None, str(STATE): None}
        places.update({str(d.out_path): None for d in self.daemons})
        leaks = []
        for path in places:
            if not path or not os.path.exists(path):
                continue
            text = Path(path).read_text(errors="replace")
            leaks += [f"{path}: {s[:12]}…" for s in self.secrets if s in text]
        leaks += [f"usherctl output: {s[:12]}…" for s in self.secrets
                  for out in self.outputs if s in out]
        return leaks

    def teardown(self):
        problems = []
        for d in self.daemons:
            if d.waited:
                continue
            if not d.alive():
                problems.append(f"usherd pid {d.pid} died during the test with status "
                                f"{d.proc.returncode}:\n{d.output()[-2000:]}")
                continue
            rc = d.stop()
            if rc != 0:
                problems.append(f"usherd pid {d.pid} exited {rc} on SIGTERM:\n{d.output()[-2000:]}")
        problems += [f"secret leaked: {leak}" for leak in self.check_no_secret_leaked()]
        return problems
