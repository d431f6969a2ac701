"""SCIMMY 1.3.5 with scimmy-routers on Express (tests/interop/scimmy/server.mjs), loaded through
its own API: the POSIX extension under urn:ietf:params:scim:schemas: read through [mapping], a
listing past the end answered with the first page, inline and per-group members, delta syncs by
meta.lastModified, and an upstream deletion, deactivation and membership change."""
import interop
from interop import e2e

P = interop.SCIMMY_POSIX
TEAM = ["alice", "bob", "carol", "dan"] + [f"extra{i}" for i in range(8)]
ACCESS = {"login_groups": ["name:ops", "name:devs"], "sudo_groups": ["name:admins"]}


def user_resource(name, uid):
    return {"schemas": [e2e.USER_SCHEMA, f"{P}:User"], "userName": name,
            "displayName": f"{name.title()} Example", "active": True,
            "emails": [{"value": f"{name}@example.com", "primary": True}],
            f"{P}:User": {"uidNumber": uid, "gidNumber": uid, "homeDirectory": f"/home/{name}",
                          "loginShell": "/bin/bash"}}


def load_team(host):
    """Twelve users (so pages of 5 run past the end), three groups, members added by PATCH."""
    for i, name in enumerate(TEAM):
        host.ids[name] = host.scim.create_user(user_resource(name, 5001 + i))["id"]
    for name, gid, members in [("ops", 6001, ["alice", "bob"]), ("devs", 6002, ["carol"]),
                               ("admins", 6003, ["alice"])]:
        group = host.scim.create_group({"schemas": [e2e.GROUP_SCHEMA, f"{P}:Group"],
                                        "displayName": name, f"{P}:Group": {"gidNumber": gid}})
        host.ids[name] = group["id"]
        add_members(host, name, members)


def add_members(host, group, names):
    host.scim.patch("/Groups", host.ids[group], [
        {"op": "add", "path": "members", "value": [{"value": host.ids[n]} for n in names]}])


def remove_member(host, group, name):
    host.scim.patch("/Groups", host.ids[group], [
        {"op": "remove", "path": f'members[value eq "{host.ids[name]}"]'}])


def test_team_inline_then_per_group_and_upstream_changes(scimmy):
    host = scimmy
    load_team(host)
    # The server behaviour this suite exists for: a page past the end is the first page again.
    past_end = interop.listing(host.scim, "/Users", startIndex=13, count=5)
    assert past_end["totalResults"] == 12 and len(past_end["Resources"]) == 5, \
        interop.dump(past_end)
    assert past_end["Resources"][0]["userName"] == "alice", interop.dump(past_end)

    host.write_config(directory={"page_size": 5}, access=ACCESS)
    host.once()
    assert [q["startIndex"] for q in host.queries("/Users")] == ["1", "6", "11", "13"]
    assert host.passwd("alice") == "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
    assert host.passwd("extra7") == "extra7:*:5012:5012:Extra7 Example:/home/extra7:/bin/bash"
    assert host.id_groups("alice") == {"alice", "ops", "admins"}
    assert host.members("ops") == {"alice", "bob"}
    assert "login here:  yes" in host.user_line("carol")
    assert "login here:  no" in host.user_line("extra0")
    status = host.status()
    assert status.returncode == 0 and "12 users (0 inactive)" in status.stdout, status.stdout

    # Upstream: dan deleted, bob deactivated, carol moved from devs to ops.
    host.scim.request("DELETE", f"/Users/{host.ids['dan']}")
    host.scim.patch("/Users", host.ids["bob"], [{"op": "replace", "path": "active", "value": False}])
    remove_member(host, "devs", "carol")
    add_members(host, "ops", ["carol"])
    host.once()
    assert host.passwd("dan") is None
    assert host.passwd("bob") == "bob:*:5002:5002:Bob Example:/home/bob:/bin/bash"
    bob = host.user_line("bob")
    assert "active:      no (deactivated in the directory)" in bob, bob
    assert "login here:  no: deactivated in the directory" in bob, bob
    assert host.members("ops") == {"alice", "bob", "carol"}
    assert host.members("devs") == set()
    assert host.id_groups("carol") == {"carol", "ops"}
    inline = e2e.run("getent", "group").stdout, e2e.cache_meta()["content_hash"]

    # Per-group members: the same cache, each group's members asked for on their own.
    host.proxy.reset()
    host.write_config(directory={"page_size": 5, "group_members": "per_group"}, access=ACCESS)
    host.once()
    assert (e2e.run("getent", "group").stdout, e2e.cache_meta()["content_hash"]) == inline
    per_group = sorted(q.get("attributes") for q in host.queries(tuple(
        f"/Groups/{host.ids[g]}" for g in ("ops", "devs", "admins"))))
    assert per_group == ["members"] * 3, host.proxy.log()
    assert all(q.get("excludedAttributes") == "members" for q in host.queries("/Groups"))


def test_delta_sync_by_last_modified(scimmy):
    host = scimmy
    load_team(host)
    host.write_config(directory={"page_size": 5, "delta": True, "full_sync_interval": 3600},
                      access=ACCESS)
    daemon = host.start()
    assert daemon.state()["last_error"] is None, daemon.state()
    assert host.id_groups("dan") == {"dan"}
    host.proxy.reset()
    add_members(host, "admins", ["dan"])
    host.scim.patch("/Users", host.ids["carol"], [{"op": "replace", "path": "active", "value": False}])
    host.sync()
    assert host.id_groups("dan") == {"dan", "admins"}
    assert "login here:  no: deactivated in the directory" in host.user_line("carol")
    filters = [q.get("filter", "") for q in host.queries("/Users") + host.queries("/Groups")]
    assert filters and all(f.startswith("meta.lastModified gt ") for f in filters), filters
    assert daemon.state()["last_error"] is None, daemon.state()
