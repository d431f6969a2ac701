"""Tests for the test tools: gen_directory, scim_seed and fault_proxy (pytest).

Starts the real scim2-server (pip install scim2-server) on a free 127.0.0.1 port and fault_proxy
in front of it; every process started here is stopped by its pid at teardown.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent
SCIM_FILES = TOOLS.parent / "scim"
sys.path.insert(0, str(TOOLS))

import fault_proxy  # noqa: E402
import gen_directory  # noqa: E402
import scim_seed  # noqa: E402

TOKEN = "test-token-not-secret"
POSIX_USER = gen_directory.POSIX_USER_SCHEMA
POSIX_GROUP = gen_directory.POSIX_GROUP_SCHEMA


# --- helpers
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, token=TOKEN, timeout=10):
    """GET; return (status, headers, body bytes). HTTP errors are returned, not raised."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def stop_process(process, timeout=5):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_proxy(upstream):
    process = subprocess.Popen(
        [sys.executable, str(TOOLS / "fault_proxy.py"), "--listen", "127.0.0.1:0", "--upstream", upstream],
        stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("LISTENING "):
        stop_process(process)
        raise RuntimeError(f"fault_proxy did not start: {line!r}")
    return process, "http://" + line.split()[1]


# --- fixtures
@pytest.fixture(scope="module")
def scim_url(tmp_path_factory):
    executable = shutil.which("scim2-server")
    if not executable:
        pytest.skip("scim2-server is not installed (pip install scim2-server)")
    port = free_port()
    log_path = tmp_path_factory.mktemp("scim") / "scim2-server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [executable, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", TOKEN,
             "--schema", str(SCIM_FILES / "schemas-posix.json"),
             "--resource-type", str(SCIM_FILES / "resource-types-posix.json")],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(url + "/ServiceProviderConfig", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("scim2-server did not start:\n" + log_path.read_text()[-2000:])
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def proxy_url(scim_url):
    process, url = start_proxy(scim_url)
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture(autouse=True)
def no_fault(request):
    if "proxy_url" in request.fixturenames:
        fault_proxy.reset_faults(request.getfixturevalue("proxy_url"))
    yield


@pytest.fixture(scope="module")
def seeded(proxy_url):
    """50 users / 5 groups seeded through the proxy (pass-through): (directory, id map)."""
    directory = gen_directory.build_directory(50, 5, 2, seed=11)
    id_map = scim_seed.seed(scim_seed.ScimClient(proxy_url, TOKEN), directory)
    return directory, id_map


# --- gen_directory
def test_directory_is_deterministic_and_well_formed():
    directory = gen_directory.build_directory(100, 10, 5, seed=3)
    assert directory == gen_directory.build_directory(100, 10, 5, seed=3)
    assert directory != gen_directory.build_directory(100, 10, 5, seed=4)
    users, groups = directory["Users"], directory["Groups"]
    assert [u["userName"] for u in users[:2]] == ["user00001", "user00002"]
    assert [g["displayName"] for g in groups[:2]] == ["group0001", "group0002"]
    user = users[49]
    assert user["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "usher-test:3:user:50"))
    assert user[POSIX_USER] == {"uidNumber": 100050, "gidNumber": 100050,
                                "homeDirectory": "/home/user00050", "loginShell": "/bin/bash"}
    assert user["active"] is True and user["emails"][0]["value"] == "user00050@example.com"
    assert groups[2][POSIX_GROUP] == {"gidNumber": 500003}
    memberships = {u["id"]: 0 for u in users}
    for group in groups:
        for member in group["members"]:
            memberships[member["value"]] += 1
    assert set(memberships.values()) == {5}


def test_passwd_and_group_lines():
    directory = gen_directory.build_directory(3, 2, 1, seed=0)
    assert gen_directory.passwd_lines(directory)[1] == \
        "user00002:*:100002:100002:Test User 00002:/home/user00002:/bin/bash"
    lines = gen_directory.group_lines(directory)
    assert lines[:3] == ["user00001:*:100001:", "user00002:*:100002:", "user00003:*:100003:"]
    members = sorted(m for line in lines[3:] for m in line.split(":")[3].split(",") if m)
    assert [line.split(":")[:3] for line in lines[3:]] == [["group0001", "*", "500001"],
                                                          ["group0002", "*", "500002"]]
    assert members == ["user00001", "user00002", "user00003"]


def test_index_records_are_sorted_fixed_width_and_nul_padded():
    index = gen_directory.index_bytes({"b": 5, "a": 123, "10": 0, "9": 77})
    # KEY NUL OFFSET NUL padding NULs LF, every record as long (longest key + longest offset + 3),
    # sorted by bytes (strcmp), so "10" < "9"
    assert index == (b"10\x000\x00\x00\x00\n"
                     b"9\x0077\x00\x00\x00\n"
                     b"a\x00123\x00\x00\n"
                     b"b\x005\x00\x00\x00\x00\n")


def test_cache_dir_indexes_point_at_their_lines(tmp_path):
    gen_directory.main(["--users", "30", "--groups", "4", "--per-user", "2", "--cache-dir", str(tmp_path)])
    for cache, suffixes in (("passwd.cache", {"name": 0, "uid": 2}), ("group.cache", {"name": 0, "gid": 2})):
        data = (tmp_path / cache).read_bytes()
        for suffix, field in suffixes.items():
            index = (tmp_path / f"{cache}.ix{suffix}").read_bytes()
            records = index.split(b"\n")[:-1]
            assert len({len(r) for r in records}) == 1
            keys = [r.split(b"\0")[0] for r in records]
            assert keys == sorted(keys) and len(keys) == len(data.splitlines())
            for record in records:
                key, offset = record.split(b"\0")[:2]
                line = data[int(offset):].split(b"\n", 1)[0]
                assert line.split(b":")[field] == key


# --- scim_seed
def test_seed_round_trip_maps_members_to_server_ids(seeded, scim_url):
    directory, id_map = seeded
    client = scim_seed.ScimClient(scim_url, TOKEN)
    assert len(id_map) == 55 and len(set(id_map.values())) == 55
    assert not set(id_map) & set(id_map.values())
    users = {u["id"]: u for u in client.request("GET", "/Users", query={"count": 1000})["Resources"]}
    for file_user in directory["Users"]:
        server_user = users[id_map[file_user["id"]]]
        assert server_user["userName"] == file_user["userName"]
        assert server_user[POSIX_USER] == file_user[POSIX_USER]
    groups = {g["id"]: g for g in client.request("GET", "/Groups", query={"count": 1000})["Resources"]}
    for file_group in directory["Groups"]:
        server_group = groups[id_map[file_group["id"]]]
        assert server_group[POSIX_GROUP] == file_group[POSIX_GROUP]
        expected = {id_map[m["value"]] for m in file_group["members"]}
        assert {m["value"] for m in server_group["members"]} == expected
        assert expected <= set(users)


def test_seed_without_bulk(scim_url):
    directory = gen_directory.build_directory(3, 2, 1, seed=99)
    for user in directory["Users"]:  # userName, uidNumber and gidNumber must be unique
        user["userName"] = "nobulk-" + user["userName"]
        user[POSIX_USER]["uidNumber"] += 80000
    for group in directory["Groups"]:
        group["displayName"] = "nobulk-" + group["displayName"]
        group[POSIX_GROUP]["gidNumber"] += 80000
    client = scim_seed.ScimClient(scim_url, TOKEN)
    id_map = scim_seed.seed(client, directory, use_bulk=False)
    group = client.get_group("nobulk-group0001")
    assert {m["value"] for m in group["members"]} <= {id_map[u["id"]] for u in directory["Users"]}
    assert group["id"] == id_map[directory["Groups"][0]["id"]]


def test_seed_commands(scim_url):
    env = dict(os.environ, SCIM_URL=scim_url, SCIM_TOKEN=TOKEN)

    def cli(*args):
        done = subprocess.run([sys.executable, str(TOOLS / "scim_seed.py"), *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    user = {"schemas": [gen_directory.USER_SCHEMA, POSIX_USER], "userName": "cmd-alice",
            POSIX_USER: {"uidNumber": 190001, "gidNumber": 190001}}
    alice = cli("create-user", json.dumps(user))
    group = cli("create-group", json.dumps({"schemas": [gen_directory.GROUP_SCHEMA], "displayName": "cmd-group"}))
    assert cli("get-user", "cmd-alice")["id"] == alice["id"]
    assert cli("set-active", "cmd-alice", "false")["active"] is False
    assert cli("patch-user", "cmd-alice", "replace", f"{POSIX_USER}:loginShell", "/bin/zsh")[POSIX_USER]["loginShell"] == "/bin/zsh"
    assert cli("add-member", "cmd-group", "cmd-alice")["members"] == [{"value": alice["id"], "display": "cmd-alice"}]
    assert not cli("remove-member", "cmd-group", "cmd-alice").get("members")
    assert cli("rename-user", "cmd-alice", "cmd-alicia")["userName"] == "cmd-alicia"
    cli("add-member", "cmd-group", "cmd-alicia")
    assert cli("delete-user", "cmd-alicia")["deleted"] == alice["id"]
    # scim2-server keeps a deleted user's id in the groups' members
    assert [m["value"] for m in scim_seed.ScimClient(scim_url, TOKEN).get_group("cmd-group")["members"]] == [alice["id"]]
    assert cli("delete-group", "cmd-group")["deleted"] == group["id"]
    failed = subprocess.run([sys.executable, str(TOOLS / "scim_seed.py"), "get-user", "cmd-alicia"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "no user" in failed.stderr


# --- fault_proxy
def test_pass_forwards_authorization_and_logs_without_its_value(proxy_url, seeded):
    status, _, body = get(proxy_url + "/Users?count=2&startIndex=3")
    assert status == 200 and len(json.loads(body)["Resources"]) == 2
    assert get(proxy_url + "/Users", token=None)[0] == 401
    log = fault_proxy.request_log(proxy_url)
    assert [(e["method"], e["path"], e["status"], e["authorization"]) for e in log] == [
        ("GET", "/Users?count=2&startIndex=3", 200, True), ("GET", "/Users", 401, False)]
    assert TOKEN not in json.dumps(log)


def test_post_body_is_forwarded(proxy_url):
    client = scim_seed.ScimClient(proxy_url, TOKEN)
    created = client.create_user({"schemas": [gen_directory.USER_SCHEMA], "userName": "via-proxy"})
    assert client.get_user("via-proxy")["id"] == created["id"]


def test_refuse_closes_without_response(proxy_url):
    fault_proxy.set_fault(proxy_url, "refuse", count=1)
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        get(proxy_url + "/Users?count=1")
    assert get(proxy_url + "/Users?count=1")[0] == 200
    assert [e["status"] for e in fault_proxy.request_log(proxy_url)] == [None, 200]


@pytest.mark.parametrize("status", [500, 503])
def test_status_with_retry_after(proxy_url, status):
    fault_proxy.set_fault(proxy_url, "status", status=status, retry_after=7, count=1)
    got, headers, body = get(proxy_url + "/Users")
    assert got == status and headers["Retry-After"] == "7"
    assert json.loads(body)["status"] == str(status)
    assert get(proxy_url + "/Users?count=1")[0] == 200


def test_429_with_retry_after(proxy_url):
    fault_proxy.set_fault(proxy_url, "429", retry_after=3)
    for _ in range(2):
        status, headers, _ = get(proxy_url + "/Users")
        assert status == 429 and headers["Retry-After"] == "3"


def test_count_and_path_filter(proxy_url):
    fault_proxy.set_fault(proxy_url, "status", status=500, count=2, path_contains="/Groups")
    assert get(proxy_url + "/Users?count=1")[0] == 200
    assert [get(proxy_url + "/Groups?count=1")[0] for _ in range(3)] == [500, 500, 200]


def test_truncate_gives_incomplete_read(proxy_url, seeded):
    fault_proxy.set_fault(proxy_url, "truncate")
    request = urllib.request.Request(proxy_url + "/Users?count=20", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        length = int(response.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as error:
            response.read()
    assert len(error.value.partial) == length // 2


def test_invalid_json(proxy_url):
    fault_proxy.set_fault(proxy_url, "invalid_json")
    status, _, body = get(proxy_url + "/Users")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_stall_times_out_while_other_requests_pass(proxy_url):
    fault_proxy.set_fault(proxy_url, "stall", seconds=5, path_contains="/Users")
    outcome = {}

    def stalled_request():
        started = time.monotonic()
        try:
            get(proxy_url + "/Users?count=1", timeout=1)
            outcome["error"] = None
        except (TimeoutError, socket.timeout, urllib.error.URLError) as e:
            outcome["error"] = e
        outcome["elapsed"] = time.monotonic() - started

    stalled = threading.Thread(target=stalled_request)
    stalled.start()
    time.sleep(0.2)
    assert get(proxy_url + "/Groups?count=1", timeout=5)[0] == 200
    assert stalled.is_alive()
    assert [(e["path"], e["status"]) for e in fault_proxy.request_log(proxy_url)] == [
        ("/Users?count=1", None), ("/Groups?count=1", 200)]
    stalled.join(10)
    error = outcome["error"]
    assert isinstance(getattr(error, "reason", error), (TimeoutError, socket.timeout))
    assert 0.9 < outcome["elapsed"] < 3


def test_endless_paging_repeats_the_first_page(proxy_url, seeded):
    fault_proxy.set_fault(proxy_url, "endless_paging")
    pages = [json.loads(get(proxy_url + f"/Users?startIndex={start}&count=10")[2]) for start in (1, 11, 10 ** 6)]
    assert all(p["totalResults"] == 10 ** 9 for p in pages)
    assert [p["startIndex"] for p in pages] == [1, 11, 10 ** 6]
    ids = [[r["id"] for r in p["Resources"]] for p in pages]
    assert len(ids[0]) == 10 and ids[0] == ids[1] == ids[2]


def test_slow_delays_then_answers(proxy_url):
    fault_proxy.set_fault(proxy_url, "slow", delay=1, count=1)
    started = time.monotonic()
    assert get(proxy_url + "/Users?count=1")[0] == 200
    assert time.monotonic() - started >= 1
    assert fault_proxy.request_log(proxy_url)[0]["fault"] == "slow"


def test_bad_fault_is_refused(proxy_url):
    with pytest.raises(urllib.error.HTTPError) as error:
        fault_proxy.set_fault(proxy_url, "explode")
    assert error.value.code == 400


def test_sigterm_exits_cleanly_even_with_a_stalled_request(scim_url):
    process, url = start_proxy(scim_url)
    try:
        fault_proxy.set_fault(url, "stall", seconds=60)
        outcome = []

        def stalled_request():
            try:
                outcome.append(get(url + "/Users", timeout=30)[0])
            except (OSError, http.client.HTTPException) as e:
                outcome.append(e)

        stalled = threading.Thread(target=stalled_request)
        stalled.start()
        time.sleep(0.3)
        started = time.monotonic()
        process.terminate()
        assert process.wait(5) == 0
        stalled.join(10)
        assert time.monotonic() - started < 5
        assert isinstance(outcome[0], (OSError, http.client.HTTPException))  # closed, no answer
    finally:
        stop_process(process)
