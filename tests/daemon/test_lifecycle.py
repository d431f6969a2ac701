"""Users and groups created, changed, deactivated, reactivated and deleted upstream reach the host
within one sync (`usherctl sync` returns after exactly one more attempt), seen through getent, id
and usherctl."""
import re

import usher_e2e as e2e


def test_created_users_and_groups_are_visible_after_one_sync(host):
    host.seed_team()
    daemon = host.start()
    assert host.passwd("alice") == "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
    assert host.passwd("5002") == "bob:*:5002:5002:Bob Example:/home/bob:/bin/bash"
    assert host.group("ops") == "ops:*:6001:alice,bob"
    assert host.group("alice") == "alice:*:5001:", "the user-private group"
    assert host.id_groups("alice") == {"alice", "ops", "admins"}
    assert host.initgroups("alice") == {6001, 6003}

    # Created while the daemon runs: there after one more sync.
    host.add_user("erin", 5005, gid=5005, shell="/bin/sh")
    host.add_group("qa", 6004, ["erin", "bob"])
    before = daemon.attempts()
    out = host.sync()
    assert daemon.attempts() == before + 1, "usherctl sync waited for exactly one sync"
    assert "synced: generation 2, 5 users" in out, out
    assert host.passwd("erin") == "erin:*:5005:5005:Erin Example:/home/erin:/bin/sh"
    assert host.group("qa") == "qa:*:6004:bob,erin"
    assert host.id_groups("bob") == {"bob", "ops", "qa"}
    assert host.initgroups("erin") == {6004}


def test_unchanged_sync_writes_nothing(host):
    host.seed_team()
    host.start()
    before = e2e.cache_fingerprint()
    out = host.sync()
    assert "generation 1" in out
    assert e2e.cache_fingerprint() == before, "the cache file was rewritten by an unchanged sync"
    assert e2e.temp_files() == []


def test_rename_keeps_the_uid(host):
    host.seed_team()
    host.start()
    host.scim.rename_user("alice", "alicia")
    host.sync()
    assert host.passwd("alice") is None
    assert host.passwd("alicia") == "alicia:*:5001:5001:Alice Example:/home/alice:/bin/bash"
    assert host.passwd("5001").startswith("alicia:")
    assert host.group("alice") is None, "the private group follows the rename"
    assert host.group("alicia") == "alicia:*:5001:"
    assert host.members("ops") == {"alicia", "bob"}
    assert host.id_groups("alicia") == {"alicia", "ops", "admins"}
    assert host.initgroups("alice") is None or host.initgroups("alice") == set()


def test_new_shell_and_new_membership(host):
    host.seed_team()
    host.start()
    host.scim.patch_user("bob", "replace", f"{e2e.POSIX_USER}:loginShell", "/bin/sh")
    host.scim.add_member("devs", "bob")
    host.scim.remove_member("ops", "alice")
    host.sync()
    assert host.passwd("bob") == "bob:*:5002:5002:Bob Example:/home/bob:/bin/sh"
    assert host.members("devs") == {"bob", "carol"}
    assert host.members("ops") == {"bob"}
    assert host.id_groups("bob") == {"bob", "ops", "devs"}
    assert host.id_groups("alice") == {"alice", "admins"}
    assert host.initgroups("bob") == {6001, 6002}


def test_shell_not_in_etc_shells_falls_back_to_the_default(host):
    host.seed_team()
    host.start()
    host.scim.patch_user("carol", "replace", f"{e2e.POSIX_USER}:loginShell", "/usr/bin/nonexistent-sh")
    host.sync()
    assert host.passwd("carol").endswith(":/bin/bash")


def test_deactivate_and_reactivate(host):
    host.seed_team()
    host.write_config(access={"login_groups": ["name:ops"]})
    daemon = host.start()
    assert "login here:  yes" in host.usherctl("user", "bob").stdout

    host.scim.set_active("bob", False)
    host.sync()
    assert host.passwd("bob") == "bob:*:5002:5002:Bob Example:/home/bob:/bin/bash", \
        "a deactivated user still resolves (files keep their owner)"
    assert "bob" in host.members("ops")
    user = host.usherctl("user", "bob")
    assert user.returncode == 0
    assert "active:      no (deactivated in the directory)" in user.stdout
    assert "login here:  no: deactivated in the directory" in user.stdout
    status = host.status()
    assert re.search(r"4 users \(1 inactive\)", status.stdout), status.stdout
    assert daemon.state()["inactive_users"] == 1

    host.scim.set_active("bob", True)
    host.sync()
    user = host.usherctl("user", "bob")
    assert "active:      yes" in user.stdout
    assert "login here:  yes" in user.stdout
    assert "4 users (0 inactive)" in host.status().stdout


def test_delete_user_and_group(host):
    host.seed_team()
    host.add_group("qa", 6004, ["dan"])
    host.start()
    assert host.passwd("carol") and host.group("carol") and host.group("qa")

    host.scim.delete_user("carol")
    host.scim.delete_group("qa")
    host.sync()
    assert host.passwd("carol") is None
    assert host.passwd("5003") is None
    assert host.group("carol") is None, "the deleted user's private group is gone too"
    assert host.group("5003") is None
    assert host.members("devs") == set(), "the deleted user left the groups that listed it"
    assert host.group("qa") is None
    assert host.group("6004") is None
    assert host.id_groups("dan") == {"dan"}
    assert host.usherctl("user", "carol").returncode == 1
    assert host.usherctl("group", "qa").returncode == 1
    # The others are untouched.
    assert host.passwd("alice") == "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"


def test_dangling_group_members_are_dropped(host):
    """scim2-server keeps a deleted user's id in groups' members, and accepts member values that
    were never users: both are dropped, the rest of the group stays."""
    host.seed_team()
    host.add_group("mixed", 6005, ["alice", "bob", "carol"])
    host.scim.patch("/Groups", host.ids["mixed"],
                    [{"op": "add", "path": "members", "value": [{"value": "no-such-user-id"}]}])
    daemon = host.start()
    assert host.members("mixed") == {"alice", "bob", "carol"}

    host.scim.delete_user("bob")
    listed = host.scim.request("GET", f"/Groups/{host.ids['mixed']}")
    assert {m["value"] for m in listed["members"]} >= {host.ids["bob"]}, \
        "precondition: the server still lists the deleted user as a member"
    host.sync()
    assert host.members("mixed") == {"alice", "carol"}
    assert host.members("ops") == {"alice"}
    assert host.passwd("bob") is None
    assert host.id_groups("alice") == {"alice", "ops", "admins", "mixed"}
    assert "dropped" in daemon.output() and "not users in this snapshot" in daemon.output()


def test_per_group_members_give_the_same_cache_as_inline(host):
    host.seed_team()
    host.add_group("big", 6010, ["alice", "bob", "carol", "dan"])
    host.add_group("empty", 6011, [])
    daemon = host.start()
    inline = (e2e.run("getent", "passwd").stdout, e2e.run("getent", "group").stdout)
    meta_inline = e2e.cache_meta()
    assert "big:*:6010:alice,bob,carol,dan" in inline[1]

    host.write_config(directory={"group_members": "per_group"})
    host.proxy.reset()
    daemon.signal(1)  # SIGHUP: re-read the config and sync now
    daemon.wait_output(r"configuration reloaded", 10)
    before = daemon.attempts()
    daemon.wait_attempts(before + 1)
    state = daemon.state()
    assert state["last_error"] is None, state
    paths = [e["path"] for e in host.proxy.log(host.tenant)]
    assert any("/Groups?" in p and "excludedAttributes=members" in p for p in paths), paths
    per_group = [p for p in paths if re.search(r"/Groups/[0-9a-f]+\?attributes=members", p)]
    assert len(per_group) >= 5, f"one request per group expected: {paths}"
    meta = e2e.cache_meta()
    assert meta["content_hash"] == meta_inline["content_hash"]
    assert meta["generation"] == meta_inline["generation"], "same content: nothing published"
    assert (e2e.run("getent", "passwd").stdout, e2e.run("getent", "group").stdout) == inline
