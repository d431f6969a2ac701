"""Signals: SIGUSR1 (usherctl sync), SIGHUP (config reload, a bad config refused), SIGTERM (exit 0,
also in the middle of a sync), and SIGKILL in the middle of a publish (the cache is the old one or
the new one, never broken, and no temp file survives the next successful sync)."""
import json
import os
import random
import re
import secrets
import signal
import socket
import time

import usher_e2e as e2e


def test_usherctl_sync_while_a_sync_is_in_flight_sees_changes_made_before_it_asked(host):
    """`usherctl sync` means: a sync that starts after I asked. A change made upstream before the
    request must be on the host when it returns, even if a sync was already running."""
    host.seed_team()
    host.write_config(sync={"interval": 600})
    daemon = host.start()
    # The next sync's /Groups request is held for 3 s: its /Users listing is already done.
    host.proxy.set_fault("slow", delay=3, count=1, path_contains=f"/{host.tenant}/v2/Groups")
    daemon.signal(signal.SIGUSR1)
    e2e.wait_for(lambda: any(e["fault"] == "slow" for e in host.proxy.log(host.tenant)), 10,
                 "the in-flight sync to reach /Groups")
    host.scim.patch_user("bob", "replace", f"{e2e.POSIX_USER}:loginShell", "/bin/sh")
    host.sync(timeout=30)
    assert host.passwd("bob").endswith(":/bin/sh"), \
        "usherctl sync returned the result of a sync that started before it asked"


def test_sighup_with_a_broken_config_keeps_the_old_one(host):
    host.seed_team()
    host.write_config(sync={"interval": 1})
    daemon = host.start()
    good = host.config_path.read_text()
    host.config_path.write_text(good + "\n[sync\ninterval = = 3\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_output(r"new configuration refused, keeping the old one", 10)
    assert "configuration reloaded" not in daemon.output()
    assert re.search(rf"usherd\[{daemon.pid}\]: new configuration refused", e2e.syslog_text())

    # Still syncing with the old config.
    attempts = daemon.attempts()
    daemon.wait_attempts(attempts + 2, timeout=15)
    host.add_user("erin", 5005, gid=5005)
    e2e.wait_for(lambda: host.passwd("erin"), 15, "erin to arrive with the old config")
    assert daemon.alive()
    # A config with an unknown key (valid TOML) is refused too, and says which key.
    host.config_path.write_text(good.replace("[sync]", "[sync]\nintervall = 5"))
    daemon.signal(signal.SIGHUP)
    daemon.wait_output(r"new configuration refused", 10, count=2)
    e2e.wait_for(lambda: "unknown field `intervall`" in daemon.output(), 5, "the reason")
    host.config_path.write_text(good)
    assert daemon.alive()


def test_a_refused_config_is_logged_on_one_line(host):
    """One line per event: the TOML parser's multi-line error (source snippet, caret) is not
    copied into the log."""
    host.seed_team()
    daemon = host.start()
    host.config_path.write_text(host.config_path.read_text() + "\n[sync\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_output(r"new configuration refused", 10)
    for text in (daemon.output(), e2e.syslog_text()):
        lines = text.splitlines()
        i = next(i for i, line in enumerate(lines) if "configuration refused" in line)
        assert re.search(r"keeping the old one: config \S+usher\.toml: line \d+: \S", lines[i]), lines[i]
        following = lines[i + 1:i + 2]
        assert not any(re.match(r"\s*(\d+\s*)?\|", line) for line in following), \
            f"a continuation line after the refusal: {following}"


def test_sighup_with_a_good_config_is_applied(host):
    host.seed_team()
    daemon = host.start()
    assert "login here:  no: not a member" in host.usherctl("user", "bob").stdout
    assert "nobody from the directory may log in" in host.status().stdout

    host.write_config(access={"login_groups": ["name:ops"], "sudo_groups": ["name:admins"]})
    attempts = daemon.attempts()
    daemon.signal(signal.SIGHUP)
    daemon.wait_output(r"configuration reloaded", 10)
    daemon.wait_attempts(attempts + 1)
    e2e.wait_for(lambda: "login here:  yes" in host.usherctl("user", "bob").stdout, 10,
                 "the new login_groups to apply")
    bob = host.usherctl("user", "bob").stdout
    assert "sudo here:   no" in bob
    alice = host.usherctl("user", "alice").stdout
    assert "login here:  yes" in alice and "sudo here:   yes" in alice
    assert "login here:  no" in host.usherctl("user", "carol").stdout
    assert "2 users may log in here, 1 may use sudo" in host.status().stdout


def test_sigterm_during_a_stalled_sync_exits_0_at_once(host):
    host.seed_team()
    host.write_config(sync={"interval": 1}, directory={"request_timeout": 60})
    daemon = host.start()
    before = e2e.cache_fingerprint()
    host.proxy.set_fault("stall", seconds=30, path_contains=f"/{host.tenant}/")
    e2e.wait_for(lambda: any(e["fault"] == "stall" for e in host.proxy.log(host.tenant)), 10,
                 "a request to stall")
    started = time.monotonic()
    assert daemon.stop(timeout=10) == 0
    assert time.monotonic() - started < 3, "SIGTERM waited for the stalled request"
    assert "sync abandoned: shutting down" in daemon.output()
    assert "usherd stopped" in daemon.output()
    assert e2e.cache_fingerprint() == before
    assert e2e.temp_files() == []


def test_sigint_exits_0(host):
    host.seed_team()
    daemon = host.start()
    daemon.signal(signal.SIGINT)
    assert daemon.wait_exit(10) == 0
    assert "usherd stopped" in daemon.output()


class NotifySocket:
    """A $NOTIFY_SOCKET that collects sd_notify datagrams."""

    def __init__(self, name):
        self.path = str(e2e.ns_dir() / name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def has(self, predicate, count=1):
        """Whether `count` assignments (one per line: a datagram may carry several) match."""
        try:
            self.messages.extend(self.sock.recv(4096).decode().splitlines())
        except socket.timeout:
            pass
        return sum(1 for m in self.messages if predicate(m)) >= count

    def close(self):
        self.sock.close()


def test_sd_notify_ready_status_and_watchdog(host):
    host.seed_team()
    notify = NotifySocket("notify.sock")
    try:
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")
        daemon = host.start(env=env)
        e2e.wait_for(lambda: notify.has(lambda m: m == "READY=1"), 10, "READY=1")
        e2e.wait_for(lambda: notify.has(lambda m: m.startswith("STATUS=synced: generation 1, 4 users")),
                     10, "STATUS")
        e2e.wait_for(lambda: notify.has(lambda m: m == "WATCHDOG=1", count=3), 10,
                     "three WATCHDOG=1 pings (every 0.5 s)")
        assert notify.messages.index("READY=1") > 0, "READY only after the first sync's STATUS"
        assert daemon.stop() == 0
        e2e.wait_for(lambda: notify.has(lambda m: m == "STOPPING=1"), 5, "STOPPING=1")
    finally:
        notify.close()


def test_ready_at_once_with_a_cache_even_when_the_directory_is_down(host):
    """A cache is published: usherd is READY before its first sync (boot never waits for the
    directory), serves the cached snapshot while the directory is down, and says so."""
    host.seed_team()
    daemon = host.start()
    assert daemon.stop() == 0
    host.proxy.set_fault("stall", seconds=30, path_contains=f"/{host.tenant}/")
    host.write_config(directory={"request_timeout": 3})
    notify = NotifySocket("notify2.sock")
    try:
        daemon = host.start(env=dict(os.environ, NOTIFY_SOCKET=notify.path), wait=False)
        e2e.wait_for(lambda: notify.has(lambda m: m == "READY=1"), 2,
                     "READY=1 before the first (stalled) sync ends")
        assert notify.has(lambda m: m == "STATUS=serving cached generation 1; first sync running")
        assert daemon.attempts() == 0
        e2e.wait_for(lambda: notify.has(
            lambda m: m.startswith("STATUS=directory unreachable or failing (1 in a row), "
                                   "serving cached generation 1")), 15, "STATUS after the failure")
        assert notify.messages.count("READY=1") == 1
    finally:
        notify.close()
    assert host.passwd("alice"), "the cached snapshot is served"
    assert re.search(r"serving the cached snapshot \(generation 1\); next attempt in \d+ s",
                     daemon.output())
    status = host.status()
    assert "failing" in status.stdout and "last error:" in status.stdout


def test_token_file_readable_by_others_is_refused(host):
    host.seed_team()
    for mode in (0o644, 0o640, 0o604):
        host.token_file.chmod(mode)
        daemon = host.start(wait=False)
        rc = daemon.wait_exit(10)
        assert rc != 0
        out = daemon.output()
        assert f"mode {mode:04o}" in out and "must not be accessible to group or others" in out, out
        assert str(host.token_file) in out
    assert not e2e.CACHE.exists()
    # The same with --once.
    result = e2e.run(e2e.USHERD, "--config", host.config_path, "--once")
    assert result.returncode != 0 and "mode 0604" in result.stderr
    # Owned by someone else.
    host.token_file.chmod(0o600)
    os.chown(host.token_file, 4321, 4321)
    daemon = host.start(wait=False)
    assert daemon.wait_exit(10) != 0
    assert "owned by uid 4321" in daemon.output()
    os.chown(host.token_file, 0, 0)
    host.start()
    assert host.passwd("alice")


def test_wrong_token_fails_without_printing_either_token(host):
    host.seed_team()
    wrong = "wrong-token-" + secrets.token_hex(16)
    host.secrets.append(wrong)
    host.token_file.write_text(wrong)
    daemon = host.start()
    state = daemon.state()
    assert "refused the token (HTTP 401)" in state["last_error"], state
    assert all(e["authorization"] for e in host.proxy.log(host.tenant))


def publish_marker(i):
    return f"Publish Round {i}"


def test_sigkill_during_publish_leaves_the_old_or_the_new_cache(host):
    """20k users from a file source (the SCIM server lists 20k users in ~30 s; the publish is what
    is under test). Each round changes one user's gecos, starts usherd and SIGKILLs it at a random
    moment, mostly while the temp file exists (during publish)."""
    directory = e2e.gen_directory.build_directory(20000, 200, 3, seed=3)
    path = host.work / "directory.json"
    config = host.work / "file.toml"
    config.write_text(e2e.toml_text({
        "directory": {"kind": "file", "path": str(path)},
        "sync": {"interval": 600, "jitter": 0, "backoff_initial": 1, "backoff_max": 4}}))
    rng = random.Random(1234)
    expected = {None}  # the markers the cache may hold: absent, or the last complete publish
    killed_during_publish = 0
    outcomes = set()
    for i in range(1, 21):
        directory["Users"][0]["displayName"] = publish_marker(i)
        path.write_text(json.dumps(directory))
        expected_now = expected | {publish_marker(i)}
        daemon = host.start(config=config, wait=False)
        tmp = e2e.USHER_DIR / f".cache.db.tmp.{daemon.pid}"
        if i % 4 == 0:
            time.sleep(rng.uniform(0, 1.5))  # anywhere in the sync
        else:
            e2e.wait_for(lambda: tmp.exists() or daemon.attempts() or not daemon.alive(), 30,
                         "the publish to start", interval=0.001)
            time.sleep(rng.uniform(0, 0.25))
        daemon.kill()
        if tmp.exists():
            killed_during_publish += 1
        line = host.passwd("user00001")
        marker = None if line is None else line.split(":")[4]
        assert marker in expected_now, f"round {i}: cache holds {marker!r}, expected {expected_now}"
        outcomes.add("new" if marker == publish_marker(i) else "old" if marker else "absent")
        if e2e.CACHE.exists():
            meta = e2e.cache_meta()
            assert meta["integrity"] == "ok", f"round {i}: {meta}"
            assert meta["users"] == 20000
            assert host.passwd("user19999"), "the cache answers for another user too"
        # Whatever was published is now what the next round may fall back to.
        expected = {marker} if marker else {None}
    assert killed_during_publish >= 5, f"only {killed_during_publish} kills hit a publish"
    assert {"old", "new"} <= outcomes, f"the kills should leave both old and new caches: {outcomes}"
    # The next successful sync publishes and leaves no temp file behind.
    directory["Users"][0]["displayName"] = "Final Round"
    path.write_text(json.dumps(directory))
    daemon = host.start(config=config)
    assert daemon.state()["last_error"] is None
    assert host.passwd("user00001").split(":")[4] == "Final Round"
    assert e2e.temp_files() == [], "temp files survived a successful publish"
    assert e2e.cache_meta()["integrity"] == "ok"
    assert daemon.stop() == 0
