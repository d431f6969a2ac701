# The directory is untrusted input: invalid entries are skipped with one clear log line each (on
# usherd's stderr and in syslog), never served, and never stop the good entries.
usher_install_module
# A local account and group of this test host, written into the overlay's /etc.
echo "localbob:x:1500:1500:Local Bob:/home/localbob:/bin/bash" >> /etc/passwd
echo "localbob:x:1500:" >> /etc/group
echo "localgrp:x:1600:" >> /etc/group

usher_sample_directory
usher_json_edit "$USHER_DIRECTORY" '
P = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
G = "urn:usher:params:scim:schemas:extension:posix:2.0:Group"
def u(i, name, posix, **extra):
    r = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", P], "id": "bad-%d" % i,
         "userName": name, "displayName": "Bad %d" % i, P: posix,
         "meta": {"created": "2024-02-01T00:00:%02dZ" % i}}
    r.update(extra)
    return r
d["Users"] += [
    u(1, "mallory", {"uidNumber": 0}),                     # uid 0
    u(2, "bad:name", {"uidNumber": 7002}),                  # ":" in the name
    u(3, "root", {"uidNumber": 7003}),                      # a local account name
    u(4, "localbob", {"uidNumber": 7004}),                  # a local account name
    u(5, "carol", {"uidNumber": 1500}),                     # a local uid
    u(6, "Alice", {"uidNumber": 7006}),                     # alice, case-insensitively
    u(7, "gina", {"uidNumber": 5001}),                      # alice'"'"'s uid
    u(8, "hank", {"uidNumber": 7008, "homeDirectory": "/home/../etc"}),    # kept, default home
    u(9, "-ivan", {"uidNumber": 7009}),                     # leading "-"
    u(10, "12345", {"uidNumber": 7010}),                    # all digits
    u(11, "judy", {"uidNumber": 65000}),                    # systemd dynamic range
    u(12, "kim", {"uidNumber": 500}),                       # below min_uid
    # valid, with a gecos to clean and a shell not in /etc/shells
    u(13, "lena", {"uidNumber": 7013, "loginShell": "/opt/evil/sh"}, displayName="Lena: Q\u0007A"),
    u(14, "mira", {"uidNumber": 7014, "homeDirectory": "/home/localbob/bin"}),  # kept, default home
    u(15, "LOCALBOB", {"uidNumber": 7015}),                 # a local account name, ignoring case
]
group("ops")["members"].append({"value": "bad-3"})          # a member that is not served
group("ops")["members"].append({"value": "no-such-user"})   # a member that does not exist
d["Groups"] += [
    {"id": "bad-g1", "displayName": "localgrp", G: {"gidNumber": 7101}},  # local group name
    {"id": "bad-g2", "displayName": "sneaky", G: {"gidNumber": 1600}},    # local gid
    {"id": "bad-g3", "displayName": "wheel,root", G: {"gidNumber": 7103}},
    {"id": "bad-g4", "displayName": "zeroes", G: {"gidNumber": 0}},
    {"id": "bad-g5", "displayName": "OPS", G: {"gidNumber": 7105}},       # ops, case-insensitively
]
'
usher_write_config
LOG_BEFORE=$(log_lines)
usher_sync
USHERD_ERR=$ERR

# Each rejected record gives one line naming it, on stderr and in syslog.
for id in bad-1 bad-2 bad-3 bad-4 bad-5 bad-6 bad-7 bad-9 bad-10 bad-11 bad-12 bad-15 \
          bad-g1 bad-g2 bad-g3 bad-g4 bad-g5; do
    n=$(grep -c "skipped .*id=$id " <<<"$USHERD_ERR" || true)
    assert_eq 1 "$n" "usherd's stderr has exactly one 'skipped' line for $id"
    n=$(tail -n +"$((LOG_BEFORE + 1))" "$USHER_NS_LOG" | grep -c "usherd.*skipped .*id=$id " || true)
    assert_eq 1 "$n" "syslog has exactly one 'skipped' line for $id"
done
assert_match "$USHERD_ERR" "skipped user id=bad-1 .*uid 0" "uid 0 is named as the reason"
assert_match "$USHERD_ERR" "skipped user id=bad-3 name=root: .*local account" "root is named as a local account"
assert_match "$USHERD_ERR" "skipped user id=bad-4 name=localbob: .*local account"
assert_contains "$USHERD_ERR" "lena: shell /opt/evil/sh is not in /etc/shells"
assert_match "$USHERD_ERR" "skipped user id=bad-15 name=LOCALBOB: .*local account localbob" "a local name wins ignoring case"
# A home that is no path, or inside a local account's home, is replaced by the default one.
assert_contains "$USHERD_ERR" "hank: home /home/../etc contains '..'; using the default home /home/hank"
assert_contains "$USHERD_ERR" "mira: home /home/localbob/bin is inside the home of local account localbob (/home/localbob); using the default home /home/mira"
assert_match "$USHERD_ERR" "published generation 1: 7 users .*17 skipped" "the summary line counts what was skipped"

# None of them is served.
for key in mallory bad:name localbob LOCALBOB carol Alice gina -ivan 12345 judy kim 7002 7003 7004 7006 7015; do
    assert_not_found getent -s usher passwd -- "$key"
done
assert_not_found getent -s usher passwd 0
assert_not_found getent -s usher passwd 1500
assert_not_found getent -s usher passwd root
for key in localgrp sneaky 'wheel,root' zeroes OPS 7101 7103 7105 1600 0; do
    assert_not_found getent -s usher group "$key"
done
# Local entries win and appear once.
assert_output "root:x:0:0:root:/root:/bin/bash" getent passwd root
assert_output "root:x:0:0:root:/root:/bin/bash" getent passwd 0
assert_output "localbob:x:1500:1500:Local Bob:/home/localbob:/bin/bash" getent passwd localbob
assert_output "localbob:x:1500:1500:Local Bob:/home/localbob:/bin/bash" getent passwd 1500
assert_output "localgrp:x:1600:" getent group localgrp
assert_ok getent passwd
assert_eq 1 "$(grep -c '^root:' <<<"$OUT")" "root is enumerated once"
assert_eq 1 "$(grep -c ':0:' <<<"$(cut -d: -f1,3 <<<"$OUT" | sed 's/$/:/' | grep ':0:$')")" "uid 0 is enumerated once"
assert_eq 1 "$(grep -c '^localbob:' <<<"$OUT")" "localbob is enumerated once"

# One bad entry never stops the rest: the good ones are all there.
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" id alice
# Members that are not served are dropped.
assert_output "ops:*:6001:alice,dave" getent group ops
# gecos loses ':' and control characters; an unknown shell falls back to the default.
assert_output "lena:*:7013:7013:Lena QA:/home/lena:/bin/bash" getent passwd lena
assert_output "hank:*:7008:7008:Bad 8:/home/hank:/bin/bash" getent passwd hank
assert_output "mira:*:7014:7014:Bad 14:/home/mira:/bin/bash" getent passwd mira
