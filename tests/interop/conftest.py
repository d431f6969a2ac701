"""Fixtures for the interop suite (tests/interop/run.sh: the private namespace of tests/daemon).

Session: tests/daemon's checks and NSS module setup, one token file, the Django project's
database migrated once. Per test: /var/lib/usher emptied, a fresh server (SCIMMY or django-scim2)
with an empty directory, the fault proxy in front of it; at teardown every usherd the test started
must exit 0 on SIGTERM and the token must appear in no log, state file or usherctl output."""
import importlib.util
import shutil

import pytest

import interop
from interop import e2e

_spec = importlib.util.spec_from_file_location("daemon_conftest",
                                               interop.HERE.parent / "daemon" / "conftest.py")
daemon_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(daemon_conftest)
pytest_configure = daemon_conftest.pytest_configure
nss_module = daemon_conftest.nss_module


@pytest.fixture(scope="session")
def token_file():
    path = e2e.ns_dir() / "interop-token"
    path.write_text(e2e.TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def django_template(token_file):
    db = e2e.ns_dir() / "django-template.sqlite3"
    interop.migrate_django(db, token_file)
    return db


@pytest.fixture
def work(request):
    e2e.empty_dir(e2e.USHER_DIR)
    path = e2e.ns_dir() / "interop" / request.node.name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _host(server, work, token_file, **settings):
    proxy = e2e.Proxy(server.url)
    host = interop.InteropHost(server, proxy, work, token_file, **settings)
    try:
        yield host
        problems = host.teardown()
    finally:
        proxy.stop()
        server.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def scimmy(work, token_file):
    yield from _host(interop.start_scimmy(work, token_file), work, token_file,
                     mapping=interop.SCIMMY_MAPPING, ids={"derivation": 2})


@pytest.fixture
def django(work, token_file, django_template):
    yield from _host(interop.start_django(work, django_template, token_file), work, token_file)
