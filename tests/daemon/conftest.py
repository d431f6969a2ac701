"""Fixtures for usherd's end-to-end tests. Run through tests/daemon/run.sh (private namespace).

Session: the NSS module installed (ld.so.conf.d + ldconfig, nsswitch `files usher`), one
scim2-server (tenants on demand: every test gets an empty one) and the fault proxy in front of it.
Per test (`host`): /var/lib/usher emptied, proxy reset, a token file (0600) and usher.toml that
points at the test's tenant through the proxy; at teardown every usherd the test started is
stopped by pid with SIGTERM and must exit 0, and the token must not appear in syslog, in usherd's
output, in the state file, nor in anything usherctl printed.
"""
import os
import shutil
import subprocess

import pytest

import usher_e2e as e2e


def pytest_configure(config):
    if not e2e.in_private_namespace():
        pytest.exit("tests/daemon must run as root inside the private namespace: "
                    "use tests/daemon/run.sh", returncode=2)
    for binary in (e2e.USHERD, e2e.USHERCTL, e2e.NSS_SO):
        if not binary.exists():
            pytest.exit(f"{binary} is not built (cargo build --release)", returncode=2)
    # Private copies: a rebuild of target/ during the run must not change what is under test.
    bin_dir = e2e.ns_dir() / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("USHERD", "USHERCTL", "NSS_SO"):
        copy = bin_dir / getattr(e2e, name).name
        shutil.copy2(getattr(e2e, name), copy)
        setattr(e2e, name, copy)


@pytest.fixture(scope="session", autouse=True)
def nss_module():
    """libnss_usher.so.2 found through ld.so.cache, `passwd: files usher`, `group: files usher`."""
    lib = e2e.ns_dir() / "lib"
    lib.mkdir(exist_ok=True)
    shutil.copyfile(e2e.NSS_SO, lib / "libnss_usher.so.2")
    (lib / "libnss_usher.so.2").chmod(0o755)
    with open("/etc/ld.so.conf.d/usher.conf", "w", encoding="utf-8") as f:
        f.write(f"{lib}\n")
    subprocess.run(["ldconfig"], check=True)
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    assert f"{lib}/libnss_usher.so.2" in listed, "ldconfig did not pick up the module"
    lines = []
    seen = set()
    with open("/etc/nsswitch.conf", encoding="utf-8") as f:
        for line in f:
            key = line.split(":", 1)[0].strip()
            if key in ("passwd", "group") and not line.lstrip().startswith("#"):
                lines.append(f"{key}:         files usher\n")
                seen.add(key)
            else:
                lines.append(line)
    for key in ("passwd", "group"):
        if key not in seen:
            lines.append(f"{key}:         files usher\n")
    with open("/etc/.nsswitch.conf.tmp", "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace("/etc/.nsswitch.conf.tmp", "/etc/nsswitch.conf")
    yield lib


@pytest.fixture(scope="session")
def scim_server():
    server = e2e.ScimServer(e2e.ns_dir() / "scim2-server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(scim_server):
    p = e2e.Proxy(scim_server.url)
    yield p
    p.stop()


@pytest.fixture
def host(request, scim_server, proxy):
    e2e.empty_dir(e2e.USHER_DIR)
    proxy.reset()
    work = e2e.ns_dir() / "work" / request.node.name.replace("/", "_")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    h = e2e.Host(request.node.name, scim_server, proxy, work)
    yield h
    proxy.reset()
    problems = h.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
