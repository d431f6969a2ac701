"""Directory faults, injected by the fault proxy: the cache stays byte-identical (same inode),
usherd keeps running, backs off (doubling from backoff_initial up to backoff_max), honours
Retry-After, `usherctl status` shows the failure, and a change made upstream during the outage
arrives once the directory is back."""
import email.utils
import re
import signal
import time

import pytest

import usher_e2e as e2e

# name: (proxy fault, what usherd's error says)
FAULTS = {
    "closed-without-response": ({"mode": "refuse"}, r"request failed"),
    "http-500": ({"mode": "status", "status": 500}, r"directory answered HTTP 500 for Users page 1"),
    # 503 (and 429) fail the sync at its first request: throttling is about the whole directory.
    "http-503-no-retry-after": ({"mode": "status", "status": 503},
                                r"directory answered HTTP 503 for ServiceProviderConfig"),
    "truncated-body": ({"mode": "truncate"}, r"Users page 1: request failed"),
    "invalid-json": ({"mode": "invalid_json"}, r"Users page 1: not valid JSON"),
    "stalled": ({"mode": "stall", "seconds": 30}, r"Users page 1: timed out"),
    "endless-paging": ({"mode": "endless_paging"},
                       r"Users: page 2 repeats entries already listed \(the server pages endlessly\)"),
}


def outage_then_recovery(host, daemon, error_pattern, min_failures=3):
    """The fault is set and erin was created upstream during it: everything that must hold while
    the directory fails."""
    before = e2e.cache_fingerprint()
    result = host.usherctl("sync", "--timeout", "60", timeout=70)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("sync failed: directory"), result.stdout
    assert re.search(error_pattern, result.stdout), result.stdout

    waits = daemon.wait_output(r"serving the cached snapshot \(generation 1\); next attempt in (\d+) s",
                               60, count=min_failures)
    seconds = [int(m.group(1)) for m in waits]
    assert seconds == sorted(seconds) and seconds[0] >= 1 and max(seconds) <= 4, \
        f"backoff doubling from 1 s, capped at 4 s: {seconds}"
    assert daemon.alive()
    assert e2e.cache_fingerprint() == before, "the cache changed during the outage"
    assert e2e.temp_files() == []
    assert host.passwd("erin") is None
    assert host.passwd("alice") == "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"

    state = daemon.state()
    assert state["consecutive_failures"] >= min_failures, state
    assert re.search(error_pattern, state["last_error"]), state
    assert state["backoff_seconds"] >= 1
    assert state["generation"] == 1

    # usherctl status shows the failure, but exits 0: it exits 1 only when the last success is
    # older than stale_after (or there never was one, or the cache is unreadable).
    status = host.status()
    assert status.returncode == 0, status.stdout
    assert re.search(r"daemon:      running \(pid \d+\), failing: \d+ attempts in a row", status.stdout)
    assert re.search(r"last error:  .*" + error_pattern, status.stdout), status.stdout
    assert "serving the cached snapshot until the directory answers" in status.stdout
    assert "status:      OK" in status.stdout
    syslog = e2e.syslog_text()
    assert re.search(rf"usherd\[{daemon.pid}\]: sync from scim:\S+ failed, cache left as it was: "
                     rf".*{error_pattern}", syslog)
    assert re.search(rf"usherd\[{daemon.pid}\]: serving the cached snapshot", syslog)


def recovered(host, daemon):
    line = e2e.wait_for(lambda: host.passwd("erin"), 30, "the change made during the outage")
    assert line == "erin:*:5005:5005:Erin Example:/home/erin:/bin/bash"
    state = e2e.wait_for(lambda: (s := daemon.state()) and s["last_error"] is None and s, 10,
                         "a clean state")
    assert state["consecutive_failures"] == 0 and state["backoff_seconds"] == 0
    assert state["generation"] == 2
    status = host.status()
    assert status.returncode == 0 and "healthy" in status.stdout and "last error" not in status.stdout
    assert daemon.alive()


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_keeps_the_cache_and_recovers(host, fault):
    options, error_pattern = FAULTS[fault]
    host.seed_team()
    host.write_config(directory={"request_timeout": 2}, sync={"interval": 2})
    daemon = host.start()
    host.proxy.set_fault(path_contains=f"/{host.tenant}/", **options)
    host.add_user("erin", 5005, gid=5005)
    outage_then_recovery(host, daemon, error_pattern)
    host.proxy.clear_fault()
    recovered(host, daemon)


def test_connection_refused(host, scim_server):
    """Nothing listens on the directory's port (a proxy process of its own, stopped: its open
    keep-alive connections close with it), then it is back on the same port."""
    own = e2e.ProxyProcess(scim_server.url)
    port = own.port
    host.write_config(url=f"{own.url}/{host.tenant}/v2")
    host.seed_team()
    daemon = host.start()
    own.stop()
    host.add_user("erin", 5005, gid=5005)
    outage_then_recovery(host, daemon, r"Users page 1: cannot connect")
    own = e2e.ProxyProcess(scim_server.url, port=port)
    try:
        recovered(host, daemon)
    finally:
        own.stop()


def sync_starts(host):
    """Arrival times of each sync attempt's first request (ServiceProviderConfig)."""
    return [e["time"] for e in host.proxy.log(host.tenant) if e["path"].endswith("/ServiceProviderConfig")]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(host, status):
    host.seed_team()
    host.write_config(sync={"interval": 600, "backoff_initial": 1, "backoff_max": 4})
    daemon = host.start()
    host.proxy.reset()
    mode = {"mode": "429"} if status == 429 else {"mode": "status", "status": status}
    host.proxy.set_fault(retry_after=6, count=1, path_contains=f"/{host.tenant}/v2/Users", **mode)
    host.add_user("erin", 5005, gid=5005)
    daemon.signal(signal.SIGUSR1)
    daemon.wait_output(r"next attempt in (\d+) s", 10)
    assert re.search(r"next attempt in 6 s", daemon.output()), \
        "the wait is Retry-After (6 s), not backoff_initial (1 s)"
    state = daemon.state()
    assert f"HTTP {status}" in state["last_error"] and state["backoff_seconds"] == 6
    status_out = host.status().stdout
    assert "(backing off)" in status_out
    e2e.wait_for(lambda: host.passwd("erin"), 20, "the retry after Retry-After")
    log = host.proxy.log(host.tenant)
    refused = [e["time"] for e in log if e["status"] == status]
    assert len(refused) == 1, log
    later = [t for t in sync_starts(host) if t > refused[0]]
    assert later, log
    waited = later[0] - refused[0]
    assert 6 <= waited <= 6 * 1.1 + 1.5, f"next attempt {waited:.2f} s after the {status}"


def test_retry_after_as_an_http_date_is_honoured(host):
    """Retry-After may also be an HTTP-date (RFC 9110 §10.2.3)."""
    host.seed_team()
    host.write_config(sync={"interval": 600})
    daemon = host.start()
    at = email.utils.formatdate(time.time() + 8, usegmt=True)
    host.proxy.set_fault("429", retry_after=at, count=1, path_contains=f"/{host.tenant}/v2/Users")
    daemon.signal(signal.SIGUSR1)
    waits = daemon.wait_output(r"next attempt in (\d+) s", 10)
    assert 6 <= int(waits[0].group(1)) <= 8, f"Retry-After: {at} -> {waits[0].group(0)}"


def test_retry_after_on_the_first_request_of_a_sync_is_honoured(host):
    """A 429 on ServiceProviderConfig (each sync's first request) is throttling too: the next
    request waits for Retry-After instead of going straight on to /Users."""
    host.seed_team()
    host.write_config(sync={"interval": 600})
    daemon = host.start()
    host.proxy.reset()
    host.proxy.set_fault("429", retry_after=5, count=1, path_contains=f"/{host.tenant}/")
    daemon.signal(signal.SIGUSR1)
    daemon.wait_output(r"next attempt in (\d+) s", 10)
    log = host.proxy.log(host.tenant)
    assert [e["status"] for e in log] == [429], f"requests after the 429: {log}"
    e2e.wait_for(lambda: len(host.proxy.log(host.tenant)) > 1, 15, "the next attempt")
    log = host.proxy.log(host.tenant)
    assert log[1]["time"] - log[0]["time"] >= 5


def test_backoff_is_capped_and_resets_after_success(host):
    host.seed_team()
    host.write_config(sync={"interval": 1, "backoff_initial": 1, "backoff_max": 4})
    daemon = host.start()
    host.proxy.set_fault("status", status=500, path_contains=f"/{host.tenant}/")
    waits = daemon.wait_output(r"next attempt in (\d+) s", 40, count=5)
    assert [int(m.group(1)) for m in waits][:5] == [1, 2, 4, 4, 4]
    host.proxy.clear_fault()
    e2e.wait_for(lambda: (daemon.state() or {}).get("consecutive_failures") == 0, 15, "success")
    count = len(re.findall(r"next attempt in (\d+) s", daemon.output()))
    host.proxy.set_fault("status", status=500, path_contains=f"/{host.tenant}/")
    waits = daemon.wait_output(r"next attempt in (\d+) s", 20, count=count + 1)
    assert int(waits[count].group(1)) == 1, "the backoff starts again from backoff_initial"


def test_directory_bounds(host):
    """max_entries and max_response_bytes fail the sync; nothing is published."""
    host.seed_team()
    daemon = host.start()
    before = e2e.cache_fingerprint()
    host.add_user("erin", 5005, gid=5005)
    host.write_config(directory={"max_entries": 4})
    daemon.signal(signal.SIGHUP)
    e2e.wait_for(lambda: "more than 4 entries" in ((daemon.state() or {}).get("last_error") or ""),
                 15, "max_entries to fail the sync")
    assert e2e.cache_fingerprint() == before
    host.write_config(directory={"max_response_bytes": 1000})
    daemon.signal(signal.SIGHUP)
    e2e.wait_for(lambda: "larger than 1000 bytes" in ((daemon.state() or {}).get("last_error") or ""),
                 15, "max_response_bytes to fail the sync")
    assert e2e.cache_fingerprint() == before
    host.write_config()
    daemon.signal(signal.SIGHUP)
    e2e.wait_for(lambda: host.passwd("erin"), 15, "the sync within bounds")


def test_a_mass_deletion_is_refused(host):
    """A directory that suddenly lists almost nobody (max_delete_share) is not believed."""
    host.seed_team()
    daemon = host.start()
    before = e2e.cache_fingerprint()
    for name in ("alice", "bob", "carol"):
        host.scim.delete_user(name)
    result = host.usherctl("sync", "--timeout", "30", timeout=40)
    assert result.returncode == 1
    assert "refused to publish: the sync would remove 3 of 4 users" in result.stdout
    assert e2e.cache_fingerprint() == before
    assert host.passwd("alice")
    assert daemon.alive()
