"""`usherctl status`: source, last sync and its age, counts, skipped entries with their reasons,
daemon health; exit 1 only when stale (older than stale_after), never synced, or no cache."""
import re
import signal

import usher_e2e as e2e

INVALID = {
    # userName the server accepts but that is no POSIX name
    "bad:name": ("user", {"uid": 5101, "gid": 5101}, "invalid user name bad:name: name contains ':', ',' or '/'"),
    "12345": ("user", {"uid": 5102, "gid": 5102}, "invalid user name 12345: name is all digits"),
    # numbers Usher never gives to directory entries
    "zero": ("user", {"uid": 0, "gid": 5103}, "zero: uid 0 is never given to a directory entry"),
    "dyn": ("user", {"uid": 61200, "gid": 5104}, "dyn: uid 61200 is in systemd's dynamic range 61184-65519"),
    "low": ("user", {"uid": 999, "gid": 5105}, "low: uid 999 is below the minimum 1000"),
    "root": ("user", {"uid": 5106, "gid": 5106}, "name root belongs to a local account"),
}


def test_status_fields_and_skipped_entries(host):
    host.seed_team()
    host.scim.set_active("dan", False)
    for name, (_, numbers, _) in INVALID.items():
        host.add_user(name, numbers["uid"], gid=numbers["gid"])
    host.write_config(access={"login_groups": ["name:ops"]})
    daemon = host.start()
    result = host.status()
    out = result.stdout
    assert result.returncode == 0, out
    assert f"source:      scim:{host.url}\n" in out
    assert f"daemon:      running (pid {daemon.pid}), healthy" in out
    assert re.search(r"^last sync:   \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d s ago\)$", out, re.M), out
    assert re.search(r"^next sync:   in \d s$", out, re.M), out
    assert re.search(r"^cache:       generation 1, built \S+ \(\d s ago\), 4 users \(1 inactive\), "
                     r"7 groups$", out, re.M), out
    assert "access:      2 users may log in here, 0 may use sudo" in out
    assert f"skipped:     {len(INVALID)} entries" in out
    skipped = re.findall(r"^  user id=(\S+) name=(\S+): (.*)$", out, re.M)
    assert {name: reason for _, name, reason in skipped} == {n: r for n, (_, _, r) in INVALID.items()}
    assert {i for i, _, _ in skipped} == {host.ids[n] for n in INVALID}, "skipped with their directory ids"
    assert out.rstrip().endswith("status:      OK")

    state = daemon.state()
    assert (state["users"], state["inactive_users"], state["groups"]) == (4, 1, 7)
    assert state["skipped_count"] == len(INVALID)
    assert {s["reason"] for s in state["skipped"]} == {r for _, _, r in INVALID.values()}
    assert e2e.STATE.stat().st_mode & 0o077 == 0 and e2e.STATE.parent.stat().st_mode & 0o077 == 0

    # In the log: one line per skipped entry, and the summary with the count.
    syslog = e2e.syslog_text()
    for name, (_, _, reason) in INVALID.items():
        assert f"skipped user id={host.ids[name]} name={name}: {reason}" in syslog
    assert re.search(r"published generation 1: 4 users \(1 inactive\), 7 groups; users \+4 -0 ~0; "
                     rf"{len(INVALID)} skipped", syslog)
    for name in INVALID:
        if name != "root":
            assert host.passwd(name) is None

    # Fixing an entry upstream takes it off the list.
    host.scim.patch_user("low", "replace", f"{e2e.POSIX_USER}:uidNumber", 5107)
    host.sync()
    assert host.passwd("low") == "low:*:5107:5105:Low Example:/home/low:/bin/bash"
    out = host.status().stdout
    assert f"skipped:     {len(INVALID) - 1} entries" in out and "name=low" not in out

    # The daemon gone: "not running", still exit 0 while the cache is fresh.
    assert daemon.stop() == 0
    out = host.status()
    assert "daemon:      not running" in out.stdout and out.returncode == 0


def test_status_before_any_sync_exits_1(host):
    result = host.status()
    assert result.returncode == 1
    assert f"source:      scim:{host.url} (no sync recorded yet)" in result.stdout
    assert "last sync:   never" in result.stdout
    assert "cache:       unreadable" in result.stdout
    assert "status:      NOT OK" in result.stdout


def test_status_exits_1_when_stale(host, scim_server):
    """stale_after = 1 and the directory stopped: stale within a couple of seconds; exit 0 again
    once it is back."""
    own = e2e.ProxyProcess(scim_server.url)
    port = own.port
    host.write_config(url=f"{own.url}/{host.tenant}/v2", sync={"stale_after": 1, "interval": 1})
    host.seed_team()
    daemon = host.start()
    host.sync()
    fresh = host.status()
    assert fresh.returncode == 0 and "STALE" not in fresh.stdout, fresh.stdout
    own.stop()
    stale = e2e.wait_for(lambda: (r := host.status()).returncode == 1 and r, 15, "status to go stale")
    assert "STALE:       the last successful sync is older than 1 s" in stale.stdout
    assert "status:      NOT OK" in stale.stdout
    assert re.search(r"failing: \d+ attempts in a row", stale.stdout)
    assert "cannot connect" in stale.stdout
    assert host.passwd("alice"), "stale, but still served"
    own = e2e.ProxyProcess(scim_server.url, port=port)
    try:
        daemon.signal(signal.SIGUSR1)
        e2e.wait_for(lambda: host.status().returncode == 0, 15, "status to be fresh again")
    finally:
        own.stop()
        # The daemon must not keep failing against a dead port at teardown: stop it now.
        assert daemon.stop() == 0


def test_usherctl_sync_without_a_daemon_fails(host):
    result = host.usherctl("sync", "--timeout", "5")
    assert result.returncode == 1 and "is usherd running?" in result.stderr
    host.seed_team()
    daemon = host.start()
    assert daemon.stop() == 0
    result = host.usherctl("sync", "--timeout", "5")
    assert result.returncode == 1 and "usherd is not running" in result.stderr


def test_status_names_the_daemon_during_its_first_sync(host):
    """A first sync against a stalled directory takes up to request_timeout per request; status
    and `usherctl sync` must know the daemon is there meanwhile."""
    host.seed_team()
    host.write_config(directory={"request_timeout": 30})
    host.proxy.set_fault("stall", seconds=30, path_contains=f"/{host.tenant}/")
    daemon = host.start(wait=False)
    e2e.wait_for(lambda: any(e["fault"] == "stall" for e in host.proxy.log(host.tenant)), 10,
                 "the first request to stall")
    status = host.status()
    assert f"daemon:      running (pid {daemon.pid})" in status.stdout, status.stdout
    assert status.returncode == 1 and "last sync:   never" in status.stdout
    assert daemon.stop() == 0
