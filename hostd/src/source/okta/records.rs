//! From Okta's User and Group objects to the SCIM-shaped records every source yields; names,
//! numbers and validation are the shared mapping's business (crate::mapping).

use crate::config::OktaConfig;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const POSIX_USER: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:User";
pub const POSIX_GROUP: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:Group";

/// Which Okta statuses are active, and which profile attributes hold the POSIX fields.
#[derive(Debug, Clone)]
pub struct ProfileMapping {
    pub active_statuses: Vec<String>,
    pub uid: String,
    pub gid: String,
    pub home: String,
    pub shell: String,
    pub ssh_keys: String,
    pub group_name: String,
    pub group_gid: String,
}

impl ProfileMapping {
    pub fn from_config(c: &OktaConfig) -> Self {
        ProfileMapping {
            active_statuses: c.active_statuses.clone(),
            uid: c.uid_attribute.clone(),
            gid: c.gid_attribute.clone(),
            home: c.home_attribute.clone(),
            shell: c.shell_attribute.clone(),
            ssh_keys: c.ssh_keys_attribute.clone(),
            group_name: c.group_name_attribute.clone(),
            group_gid: c.group_gid_attribute.clone(),
        }
    }
}

/// An Okta status is active when configured so; a missing or unknown status never is.
pub fn is_active_status(status: Option<&str>, active_statuses: &[String]) -> bool {
    status.is_some_and(|s| active_statuses.iter().any(|a| a == s))
}

pub fn object_id(object: &Value) -> Option<&str> {
    object.get("id").and_then(Value::as_str)
}

/// A timestamp of an Okta object (`created`, `lastUpdated`, `lastMembershipUpdated`).
pub fn okta_time(object: &Value, key: &str) -> Option<OffsetDateTime> {
    object
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Okta's date format, `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, for search expressions.
pub fn format_okta_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A profile attribute worth passing on: present, not null, not an empty string.
fn attribute<'a>(profile: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    match profile?.get(name)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        v => Some(v),
    }
}

fn text<'a>(profile: Option<&'a Value>, name: &str) -> Option<&'a str> {
    attribute(profile, name)
        .and_then(Value::as_str)
        .map(str::trim)
}

fn meta(object: &Value, modified_key: &str) -> Map<String, Value> {
    let mut meta = Map::new();
    for (scim, okta) in [("created", "created"), ("lastModified", modified_key)] {
        if let Some(v @ Value::String(_)) = object.get(okta) {
            meta.insert(scim.into(), v.clone());
        }
    }
    meta
}

/// The SCIM-shaped user for an Okta User object. `member`: it is in at least one configured
/// group; a user in none is kept as an inactive account.
pub fn scim_user(user: &Value, member: bool, m: &ProfileMapping) -> Value {
    let profile = user.get("profile").filter(|p| p.is_object());
    let status = user.get("status").and_then(Value::as_str);
    let mut out = Map::new();
    if let Some(id) = user.get("id") {
        out.insert("id".into(), id.clone());
    }
    if let Some(login) = attribute(profile, "login") {
        out.insert("userName".into(), login.clone());
    }
    let display = text(profile, "displayName")
        .map(str::to_string)
        .or_else(|| {
            let parts: Vec<&str> = [text(profile, "firstName"), text(profile, "lastName")]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
    if let Some(display) = display {
        out.insert("displayName".into(), Value::String(display));
    }
    out.insert(
        "active".into(),
        Value::Bool(member && is_active_status(status, &m.active_statuses)),
    );
    // Only the primary email. `secondEmail` is left out: users may set it themselves, and Okta
    // does not verify it, so it must never become a certificate principal or anything else
    // another user could be matched by.
    if let Some(email) = text(profile, "email") {
        out.insert("emails".into(), json!([{"value": email, "primary": true}]));
    }
    let mut posix = Map::new();
    for (key, attr) in [
        ("uidNumber", &m.uid),
        ("gidNumber", &m.gid),
        ("homeDirectory", &m.home),
        ("loginShell", &m.shell),
        ("sshPublicKey", &m.ssh_keys),
    ] {
        if let Some(v) = attribute(profile, attr) {
            posix.insert(key.into(), v.clone());
        }
    }
    if !posix.is_empty() {
        out.insert(POSIX_USER.into(), Value::Object(posix));
    }
    let meta = meta(user, "lastUpdated");
    if !meta.is_empty() {
        out.insert("meta".into(), Value::Object(meta));
    }
    Value::Object(out)
}

/// The SCIM-shaped group for an Okta Group object and its members' user ids.
pub fn scim_group(group: &Value, members: &BTreeSet<String>, m: &ProfileMapping) -> Value {
    let profile = group.get("profile").filter(|p| p.is_object());
    let mut out = Map::new();
    if let Some(id) = group.get("id") {
        out.insert("id".into(), id.clone());
    }
    if let Some(name) = attribute(profile, &m.group_name).or_else(|| attribute(profile, "name")) {
        out.insert("displayName".into(), name.clone());
    }
    out.insert(
        "members".into(),
        Value::Array(
            members
                .iter()
                .map(|id| json!({"value": id, "type": "User"}))
                .collect(),
        ),
    );
    if let Some(gid) = attribute(profile, &m.group_gid) {
        out.insert(POSIX_GROUP.into(), json!({"gidNumber": gid}));
    }
    let meta = meta(group, "lastUpdated");
    if !meta.is_empty() {
        out.insert("meta".into(), Value::Object(meta));
    }
    Value::Object(out)
}

/// An inactive SCIM-shaped user re-created from the published cache, for a user this process has
/// not fetched from Okta (after a restart) and who is in no configured group any more.
pub fn scim_user_from_cache(u: &usher_cache::User) -> Value {
    let mut posix = json!({
        "uidNumber": u.uid,
        "homeDirectory": u.home,
        "loginShell": u.shell,
    });
    if u.gid != u.uid {
        posix["gidNumber"] = json!(u.gid);
    }
    if !u.ssh_keys.is_empty() {
        posix["sshPublicKey"] = json!(u.ssh_keys);
    }
    let emails: Vec<Value> = u
        .emails
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"value": e, "primary": i == 0}))
        .collect();
    json!({
        "id": u.directory_id,
        "userName": u.directory_name,
        "displayName": u.gecos,
        "active": false,
        "emails": emails,
        POSIX_USER: posix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DirectoryConfig};

    fn mapping() -> ProfileMapping {
        let config = Config::parse(
            "[directory]\nkind = \"okta\"\norg_url = \"https://x.okta.com\"\ngroups = [\"ops\"]\ntoken_file = \"/t\"\n",
        )
        .unwrap();
        match &config.directory {
            DirectoryConfig::Okta(okta) => ProfileMapping::from_config(okta),
            _ => unreachable!(),
        }
    }

    fn okta_user(status: &str) -> Value {
        json!({
            "id": "00u1abcdefghijklmnop",
            "status": status,
            "created": "2024-01-02T03:04:05.000Z",
            "activated": "2024-01-02T03:04:06.000Z",
            "statusChanged": "2024-01-02T03:04:06.000Z",
            "lastLogin": null,
            "lastUpdated": "2024-05-06T07:08:09.123Z",
            "passwordChanged": null,
            "type": {"id": "oty1"},
            "profile": {
                "login": "alice@example.com",
                "email": "alice@example.com",
                "secondEmail": "alice@home.example",
                "firstName": "Alice",
                "lastName": "Example",
                "mobilePhone": null,
                "uidNumber": 5001,
                "gidNumber": "5001",
                "loginShell": "/bin/zsh",
                "homeDirectory": null,
                "sshPublicKey": ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"]
            },
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": "https://x.okta.com/api/v1/users/00u1abcdefghijklmnop"}}
        })
    }

    #[test]
    fn statuses_map_to_active_or_inactive() {
        let m = mapping();
        for status in ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"] {
            assert_eq!(
                scim_user(&okta_user(status), true, &m)["active"],
                true,
                "{status}"
            );
            assert_eq!(
                scim_user(&okta_user(status), false, &m)["active"],
                false,
                "{status} in no group"
            );
        }
        for status in [
            "SUSPENDED",
            "DEPROVISIONED",
            "STAGED",
            "PROVISIONED",
            "NEW_STATUS",
            "",
        ] {
            assert_eq!(
                scim_user(&okta_user(status), true, &m)["active"],
                false,
                "{status}"
            );
        }
        let mut no_status = okta_user("ACTIVE");
        no_status.as_object_mut().unwrap().remove("status");
        assert_eq!(scim_user(&no_status, true, &m)["active"], false);
        let only = vec!["ACTIVE".to_string()];
        assert!(is_active_status(Some("ACTIVE"), &only));
        assert!(!is_active_status(Some("LOCKED_OUT"), &only));
        assert!(
            !is_active_status(Some("active"), &only),
            "statuses are exact"
        );
    }

    #[test]
    fn profile_maps_to_the_scim_shape() {
        let got = scim_user(&okta_user("ACTIVE"), true, &mapping());
        assert_eq!(
            got,
            json!({
                "id": "00u1abcdefghijklmnop",
                "userName": "alice@example.com",
                "displayName": "Alice Example",
                "active": true,
                "emails": [{"value": "alice@example.com", "primary": true}],
                POSIX_USER: {
                    "uidNumber": 5001,
                    "gidNumber": "5001",
                    "loginShell": "/bin/zsh",
                    "sshPublicKey": ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"]
                },
                "meta": {"created": "2024-01-02T03:04:05.000Z", "lastModified": "2024-05-06T07:08:09.123Z"}
            })
        );
    }

    #[test]
    fn display_name_and_emails_fall_back() {
        let m = mapping();
        let mut u = okta_user("ACTIVE");
        u["profile"]["displayName"] = json!("Dr. Alice");
        assert_eq!(scim_user(&u, true, &m)["displayName"], "Dr. Alice");
        u["profile"]["displayName"] = json!("  ");
        u["profile"]["firstName"] = json!(null);
        assert_eq!(scim_user(&u, true, &m)["displayName"], "Example");
        u["profile"]["lastName"] = json!("");
        assert!(scim_user(&u, true, &m).get("displayName").is_none());
        // secondEmail (user-editable, unverified) is never read.
        u["profile"]["secondEmail"] = json!("bob@example.com");
        assert_eq!(
            scim_user(&u, true, &m)["emails"],
            json!([{"value": "alice@example.com", "primary": true}])
        );
        u["profile"]["email"] = json!(null);
        assert!(scim_user(&u, true, &m).get("emails").is_none());
        let bare = json!({"id": "00u2", "status": "ACTIVE", "profile": {"login": "bob"}});
        assert_eq!(
            scim_user(&bare, true, &m),
            json!({"id": "00u2", "userName": "bob", "active": true})
        );
    }

    #[test]
    fn posix_attributes_come_from_the_configured_names() {
        let mut m = mapping();
        m.uid = "unixUid".into();
        m.ssh_keys = "keys".into();
        let mut u = okta_user("ACTIVE");
        u["profile"]["unixUid"] = json!(7001);
        u["profile"]["keys"] = json!("ssh-ed25519 CCCC c");
        let got = scim_user(&u, true, &m);
        assert_eq!(got[POSIX_USER]["uidNumber"], 7001);
        assert_eq!(got[POSIX_USER]["sshPublicKey"], "ssh-ed25519 CCCC c");
    }

    #[test]
    fn groups_map_with_members_and_optional_numbers() {
        let mut m = mapping();
        let group = json!({
            "id": "00g1abcdefghijklmnop",
            "created": "2024-01-01T00:00:00.000Z",
            "lastUpdated": "2024-01-02T00:00:00.000Z",
            "lastMembershipUpdated": "2024-01-03T00:00:00.000Z",
            "type": "OKTA_GROUP",
            "profile": {"name": "linux-admins", "description": "x", "gidNumber": 6001, "posixName": "admins"}
        });
        let members: BTreeSet<String> = ["00u2".to_string(), "00u1".to_string()].into();
        assert_eq!(
            scim_group(&group, &members, &m),
            json!({
                "id": "00g1abcdefghijklmnop",
                "displayName": "linux-admins",
                "members": [{"value": "00u1", "type": "User"}, {"value": "00u2", "type": "User"}],
                POSIX_GROUP: {"gidNumber": 6001},
                "meta": {"created": "2024-01-01T00:00:00.000Z", "lastModified": "2024-01-02T00:00:00.000Z"}
            })
        );
        m.group_name = "posixName".into();
        assert_eq!(scim_group(&group, &members, &m)["displayName"], "admins");
        m.group_name = "missing".into();
        assert_eq!(
            scim_group(&group, &members, &m)["displayName"],
            "linux-admins"
        );
        let plain = json!({"id": "00g2", "profile": {"name": "devs"}});
        let got = scim_group(&plain, &BTreeSet::new(), &m);
        assert!(got.get(POSIX_GROUP).is_none());
        assert_eq!(got["members"], json!([]));
    }

    #[test]
    fn okta_times_round_trip() {
        let u = okta_user("ACTIVE");
        let t = okta_time(&u, "lastUpdated").unwrap();
        assert_eq!(format_okta_time(t), "2024-05-06T07:08:09.123Z");
        assert_eq!(
            format_okta_time(t - time::Duration::minutes(2)),
            "2024-05-06T07:06:09.123Z"
        );
        assert!(okta_time(&u, "lastLogin").is_none());
        assert!(okta_time(&json!({"lastUpdated": "yesterday"}), "lastUpdated").is_none());
    }

    #[test]
    fn a_cached_user_comes_back_the_same_but_inactive() {
        use crate::mapping::{map_directory, DirectoryData, LocalAccounts, MappingContext};
        let config = Config::parse(
            "[directory]\nkind = \"okta\"\norg_url = \"https://x.okta.com\"\ngroups = [\"ops\"]\ntoken_file = \"/t\"\n",
        )
        .unwrap();
        let shells: std::collections::HashSet<String> =
            ["/bin/bash".to_string(), "/bin/zsh".to_string()].into();
        let local = LocalAccounts::default();
        let ctx = MappingContext {
            mapping: &config.mapping,
            ids: &config.ids,
            access: &config.access,
            principals: &config.ssh.principals,
            local: &local,
            shells: &shells,
            previous: None,
        };
        let mut okta = okta_user("ACTIVE");
        okta["profile"]["sshPublicKey"] = json!(null);
        let first = map_directory(
            DirectoryData {
                users: vec![scim_user(&okta, true, &mapping())],
                groups: vec![],
            },
            &ctx,
        );
        assert!(first.skipped.is_empty(), "{:?}", first.skipped);
        let first = first.snapshot.to_snapshot();
        let cached = &first.users[0];
        assert!(cached.active);
        let again = map_directory(
            DirectoryData {
                users: vec![scim_user_from_cache(cached)],
                groups: vec![],
            },
            &ctx,
        );
        let again = again.snapshot.to_snapshot();
        let mut want = cached.clone();
        want.active = false;
        assert_eq!(again.users, vec![want]);
        assert_eq!(again.groups, first.groups);
    }
}
