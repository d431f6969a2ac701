"""`delta = true`: between full listings usherd asks only for what changed
(`filter=meta.lastModified gt "…"`, which scim2-server supports); deletions, which a delta cannot
show, arrive with the next full listing (at least every `full_sync_interval`)."""
import time
import urllib.parse

import usher_e2e as e2e


def listing_filters(entries, endpoint="Users"):
    """The `filter` of each listing request of `endpoint` (None: a full listing), in order."""
    out = []
    for e in entries:
        parts = urllib.parse.urlsplit(e["path"])
        if parts.path.endswith(f"/{endpoint}"):
            query = dict(urllib.parse.parse_qsl(parts.query))
            if query.get("startIndex", "1") == "1":
                out.append(query.get("filter"))
    return out


def test_delta_brings_changes_and_the_full_sync_brings_deletions(host):
    host.seed_team()
    host.write_config(directory={"delta": True, "full_sync_interval": 12}, sync={"interval": 3})
    daemon = host.start()
    full_at = time.monotonic()
    assert listing_filters(host.proxy.log(host.tenant)) == [None], "the first sync is a full one"

    host.proxy.reset()
    host.scim.patch_user("bob", "replace", f"{e2e.POSIX_USER}:loginShell", "/bin/sh")
    host.scim.add_member("devs", "dan")
    host.sync()
    assert host.passwd("bob").endswith(":/bin/sh")
    assert host.members("devs") == {"carol", "dan"}
    filters = listing_filters(host.proxy.log(host.tenant))
    assert filters and all(f and f.startswith('meta.lastModified gt "') for f in filters), filters
    assert all(f and f.startswith('meta.lastModified gt "')
               for f in listing_filters(host.proxy.log(host.tenant), "Groups"))
    assert "delta sync:" in daemon.output()

    # A deletion: a delta sync does not see it...
    host.scim.delete_user("carol")
    seen = len(host.proxy.log(host.tenant))
    host.sync()
    assert time.monotonic() - full_at < 12, "precondition: still within full_sync_interval"
    filters = listing_filters(host.proxy.log(host.tenant)[seen:])
    assert filters and all(filters), f"a delta sync expected: {filters}"
    assert host.passwd("carol"), "a delta cannot show a deletion"
    # ...the next full listing does.
    seen = len(host.proxy.log(host.tenant))
    e2e.wait_for(lambda: host.passwd("carol") is None, 12 + 3 + 10, "the deletion at the next full sync")
    assert None in listing_filters(host.proxy.log(host.tenant)[seen:]), "a full listing brought it"
    assert host.group("carol") is None
    assert host.members("devs") == {"dan"}


def test_delta_falls_back_to_full_listings_when_the_filter_is_refused(host):
    """A server that announces filtering but refuses a filter on meta.lastModified (HTTP 400
    invalidFilter) must not stop the host from syncing."""
    host.seed_team()
    host.write_config(directory={"delta": True, "full_sync_interval": 3600}, sync={"interval": 2})
    daemon = host.start()
    host.proxy.set_fault("status", status=400, path_contains="filter=meta.lastModified")
    host.scim.patch_user("bob", "replace", f"{e2e.POSIX_USER}:loginShell", "/bin/sh")
    e2e.wait_for(lambda: host.passwd("bob").endswith(":/bin/sh"), 15,
                 "the change, by a full listing")
    state = daemon.state()
    assert state["last_error"] is None, state
