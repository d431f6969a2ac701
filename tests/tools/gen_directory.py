#!/usr/bin/env python3
"""Generate a synthetic, deterministic directory of users and groups for Usher's tests.

N users (user00001..., uidNumber 100000+i, gidNumber = uidNumber: a user-private group),
M groups (group0001..., gidNumber 500000+j), each user a member of K distinct groups.
Ids are uuid5 of the seed and the index, so the same seed always gives the same directory.

Outputs (any combination in one run):
  --scim-json FILE          {"Users": [...], "Groups": [...]} as SCIM 2.0 resources
  --passwd FILE --group FILE  /etc/passwd and /etc/group lines (for glibc's `files` module)
  --cache-dir DIR           passwd.cache, group.cache and their .ixname/.ixuid/.ixgid indexes,
                            in the format Debian's libnss-cache reads (see write_index)

Example: gen_directory.py --users 1000 --groups 100 --per-user 5 --seed 7 --scim-json dir.json
"""
import argparse
import datetime
import json
import os
import random
import uuid

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
POSIX_USER_SCHEMA = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
POSIX_GROUP_SCHEMA = "urn:usher:params:scim:schemas:extension:posix:2.0:Group"

FIRST_UID = 100000
FIRST_GROUP_GID = 500000
CREATED_BASE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def stable_id(seed, kind, index):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"usher-test:{seed}:{kind}:{index}"))


def user_name(i):
    return f"user{i:05d}"


def group_name(j):
    return f"group{j:04d}"


def created_at(index):
    return (CREATED_BASE + datetime.timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_directory(n_users=100, n_groups=10, groups_per_user=5, seed=0):
    """Return {"Users": [...], "Groups": [...]} as SCIM resources (with file-local ids)."""
    if groups_per_user > n_groups:
        raise ValueError("groups_per_user cannot exceed n_groups")
    rng = random.Random(seed)
    users = []
    members_by_group = {j: [] for j in range(1, n_groups + 1)}
    for i in range(1, n_users + 1):
        name = user_name(i)
        uid = FIRST_UID + i
        user = {
            "schemas": [USER_SCHEMA, POSIX_USER_SCHEMA],
            "id": stable_id(seed, "user", i),
            "userName": name,
            "displayName": f"Test User {i:05d}",
            "active": True,
            "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
            POSIX_USER_SCHEMA: {
                "uidNumber": uid,
                "gidNumber": uid,
                "homeDirectory": f"/home/{name}",
                "loginShell": "/bin/bash",
            },
            "meta": {"resourceType": "User", "created": created_at(i)},
        }
        users.append(user)
        for j in sorted(rng.sample(range(1, n_groups + 1), groups_per_user)):
            members_by_group[j].append({"value": user["id"], "display": name})
    groups = [
        {
            "schemas": [GROUP_SCHEMA, POSIX_GROUP_SCHEMA],
            "id": stable_id(seed, "group", j),
            "displayName": group_name(j),
            POSIX_GROUP_SCHEMA: {"gidNumber": FIRST_GROUP_GID + j},
            "members": members_by_group[j],
            "meta": {"resourceType": "Group", "created": created_at(j)},
        }
        for j in range(1, n_groups + 1)
    ]
    return {"Users": users, "Groups": groups}


def passwd_lines(directory):
    """/etc/passwd lines, in uid order."""
    lines = []
    for user in directory["Users"]:
        posix = user[POSIX_USER_SCHEMA]
        lines.append(":".join([
            user["userName"], "*", str(posix["uidNumber"]), str(posix["gidNumber"]),
            user.get("displayName", ""), posix["homeDirectory"], posix["loginShell"],
        ]))
    return lines


def group_lines(directory):
    """/etc/group lines: the user-private groups (no members), then the directory's groups."""
    lines = []
    for user in directory["Users"]:
        lines.append(f"{user['userName']}:*:{user[POSIX_USER_SCHEMA]['gidNumber']}:")
    for group in directory["Groups"]:
        members = ",".join(m["display"] for m in group["members"])
        lines.append(f"{group['displayName']}:*:{group[POSIX_GROUP_SCHEMA]['gidNumber']}:{members}")
    return lines


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def index_bytes(key_to_offset):
    """The libnss-cache index format, as nsscache's files cache writes it.

    One record per key, sorted by key as bytes (strcmp order, so uids sort as strings):
        KEY \\0 OFFSET \\0 padding-NULs \\n
    OFFSET is the decimal byte offset of the entry's line in the .cache file. All records have
    the same length (longest key + longest offset + 3): libnss-cache takes the record size from
    the first line and bsearch()es the mmap()ed file, comparing the lookup key with strcmp.
    """
    keys = {str(k).encode(): str(v).encode() for k, v in key_to_offset.items()}
    width = max(len(k) for k in keys) + max(len(v) for v in keys.values())
    return b"".join(
        key + b"\0" + keys[key] + b"\0" + b"\0" * (width - len(key) - len(keys[key])) + b"\n"
        for key in sorted(keys)
    )


def write_cache_map(path, lines, index_fields):
    """Write a .cache file and one index per {suffix: field number}, the indexes last.

    libnss-cache ignores an index older than its .cache file (it falls back to a linear scan).
    """
    data = b"".join(line.encode() + b"\n" for line in lines)
    indexes = {suffix: {} for suffix in index_fields}
    offset = 0
    for line in lines:
        fields = line.split(":")
        for suffix, field in index_fields.items():
            indexes[suffix].setdefault(fields[field], offset)
        offset += len(line.encode()) + 1
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    for suffix, key_to_offset in indexes.items():
        index_path = f"{path}.ix{suffix}"
        with open(index_path, "wb") as f:
            f.write(index_bytes(key_to_offset) if key_to_offset else b"")
        os.chmod(index_path, 0o644)


def write_nss_cache(directory, cache_dir):
    os.makedirs(cache_dir, exist_ok=True)
    write_cache_map(os.path.join(cache_dir, "passwd.cache"), passwd_lines(directory),
                    {"name": 0, "uid": 2})
    write_cache_map(os.path.join(cache_dir, "group.cache"), group_lines(directory),
                    {"name": 0, "gid": 2})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100, help="N users (default 100)")
    parser.add_argument("--groups", type=int, default=10, help="M groups (default 10)")
    parser.add_argument("--per-user", type=int, default=5, help="K groups per user (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scim-json", metavar="FILE")
    parser.add_argument("--passwd", metavar="FILE")
    parser.add_argument("--group", metavar="FILE")
    parser.add_argument("--cache-dir", metavar="DIR")
    args = parser.parse_args(argv)
    if not (args.scim_json or args.passwd or args.group or args.cache_dir):
        parser.error("give at least one of --scim-json, --passwd, --group, --cache-dir")

    directory = build_directory(args.users, args.groups, args.per_user, args.seed)
    if args.scim_json:
        with open(args.scim_json, "w", encoding="utf-8") as f:
            json.dump(directory, f, indent=1)
            f.write("\n")
    if args.passwd:
        write_lines(args.passwd, passwd_lines(directory))
    if args.group:
        write_lines(args.group, group_lines(directory))
    if args.cache_dir:
        write_nss_cache(directory, args.cache_dir)


if __name__ == "__main__":
    main()
