"""django-scim2 0.23.0 in a minimal Django project (tests/interop/django_scim2), loaded through its
own API: users and groups counted separately (user "1" and group "1"), no POSIX attributes (numbers
derived), members ignored on POST and added by PATCH, no filtering (delta falls back to full
listings), inline and per-group members, and an upstream deletion, deactivation and membership
change."""
import interop
from interop import e2e

TEAM = ["alice", "bob", "carol", "dan"]
ACCESS = {"login_groups": ["name:ops", "name:devs"], "sudo_groups": ["name:admins"]}


def user_resource(name, active=True):
    return {"schemas": [e2e.USER_SCHEMA], "userName": name,
            "name": {"givenName": name.title(), "familyName": "Example"},
            "emails": [{"value": f"{name}@example.com", "primary": True}], "active": active}


def load_team(host):
    for name in TEAM:
        host.ids[name] = host.scim.create_user(user_resource(name))["id"]
    for name, members in [("ops", ["alice", "bob"]), ("devs", ["carol"]), ("admins", ["alice"])]:
        # django-scim2 ignores members on POST: they are added by PATCH, as its users do.
        group = host.scim.create_group({"schemas": [e2e.GROUP_SCHEMA], "displayName": name,
                                        "members": [{"value": host.ids[m]} for m in members]})
        host.ids[name] = group["id"]
        assert group["members"] == [], interop.dump(group)
        patch_members(host, "add", name, members)


def patch_members(host, op, group, names):
    host.scim.patch("/Groups", host.ids[group], [
        {"op": op, "path": "members", "value": [{"value": host.ids[n]} for n in names]}])


def test_separate_counters_need_derivation_2(django):
    host = django
    load_team(host)
    assert [host.ids[n] for n in ("alice", "bob", "carol", "ops", "devs", "admins")] == \
        ["1", "2", "3", "1", "2", "3"]
    # A config without [ids] derivation (a host set up before it existed) keeps derivation 1:
    # users 1-3 collide with groups 1-3 and are left out, and the reason says what to do.
    host.once()
    assert host.passwd("dan") is not None
    assert host.passwd("alice") is None
    status = host.status().stdout
    assert "same id 1" in status and "derivation = 2" in status, status

    # A new install with derivation 2 (the packaged example config): every user, numbers from
    # user:ID and group:ID.
    e2e.empty_dir(e2e.USHER_DIR)
    host.write_config(access=ACCESS, ids={"derivation": 2})
    host.once()
    uid = interop.fnv_number("user:1")
    assert host.passwd("alice") == f"alice:*:{uid}:{uid}:Alice Example:/home/alice:/bin/bash"
    assert host.group("ops") == f"ops:*:{interop.fnv_number('group:1')}:alice,bob"
    assert host.id_groups("alice") == {"alice", "ops", "admins"}
    assert "login here:  yes" in host.user_line("carol")
    assert "4 users (0 inactive)" in host.status().stdout


def test_team_inline_then_per_group_and_upstream_changes(django):
    host = django
    load_team(host)
    host.write_config(directory={"page_size": 2}, access=ACCESS, ids={"derivation": 2})
    host.once()
    assert {u: host.passwd(u) is not None for u in TEAM} == {u: True for u in TEAM}
    assert host.members("ops") == {"alice", "bob"}
    dan_uid = interop.fnv_number(f"user:{host.ids['dan']}")

    # Upstream: dan deleted, bob deactivated (PUT: django-scim2 does not PATCH users), carol
    # moved from devs to ops.
    host.scim.request("DELETE", f"/Users/{host.ids['dan']}")
    host.scim.request("PUT", f"/Users/{host.ids['bob']}", body=user_resource("bob", active=False))
    patch_members(host, "remove", "devs", ["carol"])
    patch_members(host, "add", "ops", ["carol"])
    host.once()
    assert host.passwd("dan") is None and host.passwd(str(dan_uid)) is None
    bob = host.user_line("bob")
    assert "login here:  no: deactivated in the directory" in bob, bob
    assert host.members("ops") == {"alice", "bob", "carol"}
    assert host.members("devs") == set()
    inline = e2e.run("getent", "group").stdout, e2e.cache_meta()["content_hash"]

    host.proxy.reset()
    host.write_config(directory={"page_size": 2, "group_members": "per_group"}, access=ACCESS,
                      ids={"derivation": 2})
    host.once()
    assert (e2e.run("getent", "group").stdout, e2e.cache_meta()["content_hash"]) == inline
    per_group = [q.get("attributes") for q in host.queries(tuple(
        f"/Groups/{host.ids[g]}" for g in ("ops", "devs", "admins")))]
    assert per_group == ["members"] * 3, host.proxy.log()


def test_delta_falls_back_to_full_listings(django):
    host = django
    load_team(host)
    spc = host.scim.service_provider_config()
    assert spc["filter"]["supported"] is False, interop.dump(spc)
    host.write_config(directory={"delta": True, "full_sync_interval": 3600}, access=ACCESS,
                      ids={"derivation": 2})
    daemon = host.start()
    assert daemon.state()["last_error"] is None, daemon.state()
    host.proxy.reset()
    patch_members(host, "add", "admins", ["dan"])
    host.sync()
    assert host.id_groups("dan") == {"dan", "admins"}
    queries = host.queries("/Users") + host.queries("/Groups")
    assert queries and not any("filter" in q for q in queries), queries
