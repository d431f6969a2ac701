"""Paging: index paging in pages smaller than the directory, and cursor paging (RFC 9865) where the
server's ServiceProviderConfig announces it, give the same cache as one big page."""
import json
import urllib.parse

import pytest

import usher_e2e as e2e


@pytest.fixture(scope="module")
def cursor_directory(scim_server):
    """A second scim2-server whose ServiceProviderConfig announces cursor paging, and a proxy."""
    client = e2e.scim_seed.ScimClient(f"{scim_server.url}/spc-probe/v2", e2e.TOKEN)
    spc = {k: v for k, v in client.service_provider_config().items()
           if k not in ("meta", "authenticationSchemes")}
    spc["pagination"] = {"cursor": True, "index": True, "defaultPaginationMethod": "cursor",
                         "maxPageSize": 1000, "cursorTimeout": 3600}
    path = e2e.ns_dir() / "spc-cursor.json"
    path.write_text(json.dumps(spc))
    server = e2e.ScimServer(e2e.ns_dir() / "scim2-server-cursor.log",
                            ["--dynamic-tenants", "--service-provider-config", str(path)])
    proxy = e2e.Proxy(server.url)
    yield server, proxy
    proxy.stop()
    server.stop()


def seed_many(host):
    for i in range(23):
        host.add_user(f"user{i:02d}", 7000 + i, gid=7000 + i)
    host.add_group("all", 8000, [f"user{i:02d}" for i in range(23)])
    for j in range(1, 6):
        host.add_group(f"team{j}", 8000 + j, [f"user{i:02d}" for i in range(j, 23, 5)])


def listings(host):
    return e2e.run("getent", "passwd").stdout, e2e.run("getent", "group").stdout


def queries(host, endpoint):
    out = []
    for e in host.proxy.log(host.tenant):
        parts = urllib.parse.urlsplit(e["path"])
        if parts.path.endswith(f"/{endpoint}"):
            out.append(dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    return out


def test_small_index_pages_give_the_same_cache(host):
    seed_many(host)
    host.write_config(directory={"page_size": 1000})
    daemon = host.start()
    one_page = listings(host), e2e.cache_meta()["content_hash"]
    assert daemon.stop() == 0
    e2e.empty_dir(e2e.USHER_DIR)
    host.proxy.reset()
    host.write_config(directory={"page_size": 4})
    host.start()
    assert (listings(host), e2e.cache_meta()["content_hash"]) == one_page
    users = queries(host, "Users")
    assert [q["startIndex"] for q in users] == [str(i) for i in range(1, 24, 4)] + ["24"], users
    assert host.members("all") == {f"user{i:02d}" for i in range(23)}


def test_cursor_paging_where_the_server_offers_it(host, cursor_directory):
    server, proxy = cursor_directory
    seed_many(host)
    host.write_config(directory={"page_size": 1000})
    daemon = host.start()
    index_result = listings(host), e2e.cache_meta()["content_hash"]
    assert daemon.stop() == 0

    e2e.empty_dir(e2e.USHER_DIR)
    host.use_directory(server, proxy)
    seed_many(host)
    host.write_config(directory={"page_size": 5})
    daemon = host.start()
    assert daemon.state()["last_error"] is None, daemon.state()
    users = queries(host, "Users")
    assert users[0]["cursor"] == "" and all(q.get("cursor") for q in users[1:]), users
    assert all("startIndex" not in q for q in users)
    assert len(users) == 5, "23 users in pages of 5"
    result = listings(host), e2e.cache_meta()["content_hash"]
    # Same names and numbers: the same cache as index paging from the other server (the
    # directory ids differ, so the content hash does not).
    assert result[0] == index_result[0]
