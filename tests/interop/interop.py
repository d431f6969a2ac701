"""Helpers for the interop suite: SCIM servers nobody on this project wrote (SCIMMY with its
Express routers, django-scim2 in a minimal Django project), run on 127.0.0.1 inside the private
namespace, and a host that points usherd at one of them through the fault proxy (for its request
log). Everything else (the daemon, getent, usherctl, the teardown checks) is tests/daemon's."""
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "daemon"))

import usher_e2e as e2e  # noqa: E402
import scim_seed  # noqa: E402  (on sys.path through usher_e2e)

SCIMMY_DIR = HERE / "scimmy"
DJANGO_DIR = HERE / "django_scim2"
# SCIMMY only takes schema URNs under urn:ietf:params:scim:schemas:, so its POSIX extension lives
# here (tests/interop/scimmy/server.mjs) and usherd reads it through [mapping].
SCIMMY_POSIX = "urn:ietf:params:scim:schemas:extension:usher:posix:2.0"
SCIMMY_MAPPING = {
    "uid": f"{SCIMMY_POSIX}:User:uidNumber",
    "gid": f"{SCIMMY_POSIX}:User:gidNumber",
    "home": f"{SCIMMY_POSIX}:User:homeDirectory",
    "shell": f"{SCIMMY_POSIX}:User:loginShell",
    "ssh_keys": f"{SCIMMY_POSIX}:User:sshPublicKey",
    "group_gid": f"{SCIMMY_POSIX}:Group:gidNumber",
}


def fnv_number(key, first=200_000, last=2_000_200_000):
    """README "Numbers": FNV-1a 64 of the key, modulo the range size, plus its start."""
    h = 0xcbf29ce484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001b3) % 2 ** 64
    return first + h % (last - first + 1)


class ServerProcess:
    """A server we started, stopped by its pid; its output in `log_path`."""

    def __init__(self, argv, port, log_path, cwd, env=None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            e2e.wait_for(self._answers, 60, f"{argv[0]} to listen on {port}")
        except AssertionError:
            self.stop()
            raise

    def _answers(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited {self.process.returncode}:\n"
                               + self.log_path.read_text(errors="replace")[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self):
        e2e.stop_process(self.process)


def start_scimmy(work, token_file):
    node = shutil.which("node")
    assert node, "node is missing (scripts/setup.sh installs it)"
    assert (SCIMMY_DIR / "node_modules" / "scimmy").is_dir(), \
        "SCIMMY is not installed: scripts/setup.sh runs npm ci in tests/interop/scimmy"
    port = e2e.free_port()
    return ServerProcess([node, str(SCIMMY_DIR / "server.mjs"), str(port), str(token_file)],
                         port, work / "scimmy.log", SCIMMY_DIR)


def django_env(db, token_file):
    env = dict(os.environ)
    env.update({"USHER_INTEROP_DB": str(db), "USHER_INTEROP_TOKEN_FILE": str(token_file),
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def migrate_django(db, token_file):
    """The project's database, made once per session (copied for each test)."""
    result = subprocess.run([sys.executable, str(DJANGO_DIR / "manage.py"), "migrate", "--noinput"],
                            cwd=DJANGO_DIR, env=django_env(db, token_file), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"manage.py migrate: {result.stdout}{result.stderr}"


def start_django(work, template_db, token_file):
    db = work / "django.sqlite3"
    shutil.copyfile(template_db, db)
    port = e2e.free_port()
    return ServerProcess([sys.executable, str(DJANGO_DIR / "manage.py"), "runserver",
                          f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
                         port, work / "django.log", DJANGO_DIR, env=django_env(db, token_file))


class InteropHost(e2e.Host):
    """tests/daemon's Host, pointed at a server on /scim/v2 through the proxy; [mapping] and [ids]
    as the server needs them."""

    def __init__(self, server, proxy, work, token_file, mapping=None, ids=None):
        self.server = server
        self.proxy = proxy
        self.work = work
        self.tenant = None
        self.scim = scim_seed.ScimClient(f"{server.url}/scim/v2", e2e.TOKEN, timeout=60)
        self.url = f"{proxy.url}/scim/v2"
        self.token_file = token_file
        self.config_path = work / "usher.toml"
        self.daemons = []
        self.ids = {}
        self.secrets = [e2e.TOKEN]
        self.outputs = []
        self.mapping = mapping
        self.id_settings = ids
        self.write_config()

    def config_text(self, directory=None, sync=None, access=None, url=None, ids=None):
        d = {"kind": "scim", "url": url or self.url, "token_file": str(self.token_file),
             "connect_timeout": 2, "request_timeout": 10}
        d.update(directory or {})
        s = {"interval": 2, "jitter": 0, "backoff_initial": 1, "backoff_max": 4}
        s.update(sync or {})
        sections = {"directory": d, "sync": s}
        if self.mapping:
            sections["mapping"] = self.mapping
        ids = self.id_settings if ids is None else ids
        if ids:
            sections["ids"] = ids
        if access:
            sections["access"] = access
        return e2e.toml_text(sections)

    def once(self):
        """`usherd --once`: must succeed."""
        result = e2e.run(e2e.USHERD, "--config", self.config_path, "--once", timeout=60)
        self.outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, f"usherd --once: {result.returncode}\n{result.stderr}"
        return result.stderr

    def queries(self, endpoint):
        """The query strings of the proxied requests to `endpoint` (a path suffix)."""
        out = []
        for e in self.proxy.log():
            parts = urllib.parse.urlsplit(e["path"])
            if parts.path.endswith(endpoint):
                out.append(dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
        return out

    def user_line(self, name):
        return self.usherctl("user", name).stdout


def listing(client, endpoint, **query):
    return client.request("GET", endpoint, query=query)


def dump(value):
    return json.dumps(value, indent=1)[:2000]
