//! The cache schema. Any change to it bumps `SCHEMA_VERSION`; a reader that meets another version
//! refuses the file (the modules then answer UNAVAIL) rather than guess.

pub const SCHEMA_VERSION: i64 = 4;

/// The modules' point lookups read the bucket tables (`buckets.rs`) through blob handles. The
/// other tables are shaped for everything else, each lookup a single b-tree descent: users and
/// groups by number are rowid lookups, by name through covering indexes. Memberships are stored
/// both ways as lists in one column (`groups.members`: member names joined by `,`;
/// `users.group_ids`: gids joined by `,`; names never contain `,`), so `getgrnam` and
/// `initgroups_dyn` read one row however large the group, and a snapshot with millions of
/// memberships is written in seconds. Both lists are stored as blobs that end with their checksum
/// (`sums.rs`), as do the bucket and chunk blobs (version 4).
///
/// The tables come first and their secondary indexes after the rows are in (`CREATE_INDEXES`):
/// building an index over a full table is one sort, far cheaper than keeping it ordered row by row,
/// and gives the same schema.
pub(crate) const CREATE_TABLES: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    uid            INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    gid            INTEGER NOT NULL,
    gecos          TEXT NOT NULL,
    home           TEXT NOT NULL,
    shell          TEXT NOT NULL,
    active         INTEGER NOT NULL,
    can_login      INTEGER NOT NULL,
    can_sudo       INTEGER NOT NULL,
    directory_id   TEXT NOT NULL,
    directory_name TEXT NOT NULL,
    group_ids      BLOB NOT NULL,
    -- sums::account_sum over the access flags, ids, emails, keys and principals.
    account_sum    BLOB NOT NULL
);

-- Every passwd entry again, in name order, packed (see chunks.rs) for enumeration.
CREATE TABLE passwd_chunks (
    id         INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    entries    BLOB NOT NULL
);

-- Hash buckets for the point lookups (see buckets.rs): one row per bucket, empty ones too.
CREATE TABLE passwd_by_name (bucket INTEGER PRIMARY KEY, entries BLOB NOT NULL);
CREATE TABLE passwd_by_uid (bucket INTEGER PRIMARY KEY, entries BLOB NOT NULL);
CREATE TABLE group_by_name (bucket INTEGER PRIMARY KEY, entries BLOB NOT NULL);
CREATE TABLE group_by_gid (bucket INTEGER PRIMARY KEY, entries BLOB NOT NULL);

CREATE TABLE user_emails (
    uid   INTEGER NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (uid, email)
) WITHOUT ROWID;

CREATE TABLE user_principals (
    uid       INTEGER NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (uid, principal)
) WITHOUT ROWID;

CREATE TABLE user_ssh_keys (
    uid INTEGER NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (uid, key)
) WITHOUT ROWID;

CREATE TABLE groups (
    gid          INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    directory_id TEXT,
    members      BLOB NOT NULL
);
";

/// The secondary indexes, created once every row is written.
pub(crate) const CREATE_INDEXES: &str = "
CREATE UNIQUE INDEX users_by_name ON users(name, uid, gid, gecos, home, shell);
CREATE UNIQUE INDEX groups_by_name ON groups(name, gid);
";
