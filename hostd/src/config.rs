//! `/etc/usher/usher.toml`: where the directory is, how its records map to POSIX entries, and this
//! host's policy. Unknown keys are refused, so a typo is an error rather than a silent default.

use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/usher/usher.toml";

const POSIX_USER: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:User";
const POSIX_GROUP: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:Group";

/// systemd's range for dynamic users (DynamicUser=); never handed to directory entries.
pub const SYSTEMD_DYNAMIC_IDS: std::ops::RangeInclusive<u32> = 61184..=65519;
/// The highest id Usher gives out: ids above 2^31-1 read as negative in too many tools.
pub const MAX_ID: u32 = i32::MAX as u32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub directory: DirectoryConfig,
    #[serde(default)]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub ids: IdsConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub ssh: SshConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DirectoryConfig {
    /// A JSON export `{"Users": [...], "Groups": [...]}` of SCIM 2.0 resources.
    File { path: PathBuf },
    /// A SCIM 2.0 service provider serving `/Users` and `/Groups` (RFC 7644).
    Scim(ScimConfig),
    /// Okta's Management API: the members of the configured Okta groups (docs/okta.md). Boxed:
    /// it is by far the largest variant.
    Okta(Box<OktaConfig>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMembers {
    /// Members come with the group listing.
    #[default]
    Inline,
    /// The listing leaves members out (`excludedAttributes=members`); each group's members are
    /// fetched on their own, for servers whose listings omit or cap them.
    PerGroup,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// Base URL, e.g. `https://directory.example.com/scim/v2`. `http://` only for loopback.
    pub url: String,
    /// A file holding the bearer token: root-owned, not readable by others.
    pub token_file: PathBuf,
    /// PEM file of the CA that signs the directory's certificate, when it is a private one.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub group_members: GroupMembers,
    /// Between full syncs, fetch only what changed (`meta.lastModified gt …`) where the server
    /// supports filtering. Deletions are seen at the next full sync.
    #[serde(default)]
    pub delta: bool,
    /// Seconds between full listings when `delta` is on.
    #[serde(default = "default_full_sync_interval")]
    pub full_sync_interval: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Seconds for one whole request, body included.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: u64,
    /// Bytes of one response body; a larger one fails the sync.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Resources of one kind; a listing with more fails the sync.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

/// Okta user statuses (the Users API's `status`).
pub const OKTA_STATUSES: [&str; 8] = [
    "STAGED",
    "PROVISIONED",
    "ACTIVE",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OktaConfig {
    /// The org's URL, e.g. `https://example.okta.com`: no path. `http://` only for loopback.
    pub org_url: String,
    /// The Okta groups whose members this host knows: group names, or group ids (`00g…`).
    pub groups: Vec<String>,
    /// An API token (`Authorization: SSWS …`), in a root-owned file not readable by others.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// OAuth 2.0 for Okta instead of a token: the service app's client id ...
    #[serde(default)]
    pub client_id: Option<String>,
    /// ... and its private key (PEM: PKCS#8 RSA or P-256, PKCS#1 RSA, SEC1 P-256), same rules as
    /// a token file.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The `kid` of the app's public key, sent in the assertion's header.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Scopes asked for; default `okta.users.read okta.groups.read`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// PEM file of the CA that signs the org's certificate, when it is a private one.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Okta statuses that count as active; every other status is an inactive account.
    #[serde(default = "default_okta_active_statuses")]
    pub active_statuses: Vec<String>,
    /// Okta user profile attributes holding the POSIX fields (custom attributes).
    #[serde(default = "default_okta_uid_attribute")]
    pub uid_attribute: String,
    #[serde(default = "default_okta_gid_attribute")]
    pub gid_attribute: String,
    #[serde(default = "default_okta_home_attribute")]
    pub home_attribute: String,
    #[serde(default = "default_okta_shell_attribute")]
    pub shell_attribute: String,
    #[serde(default = "default_okta_ssh_keys_attribute")]
    pub ssh_keys_attribute: String,
    /// Okta group profile attributes for the POSIX group name and gid (`name` is Okta's own).
    #[serde(default = "default_okta_group_name_attribute")]
    pub group_name_attribute: String,
    #[serde(default = "default_okta_gid_attribute")]
    pub group_gid_attribute: String,
    /// `limit` for member listings (Okta's default there is 1000); searches ask for at most 200.
    #[serde(default = "default_okta_page_size")]
    pub page_size: u32,
    /// Seconds between full listings; in between, only changed groups and users are fetched.
    #[serde(default = "default_full_sync_interval")]
    pub full_sync_interval: u64,
    /// The longest wait for a rate-limit window to reset before the sync gives up (seconds).
    #[serde(default = "default_okta_max_rate_limit_wait")]
    pub max_rate_limit_wait: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    #[serde(default = "default_request_timeout")]
    pub request_timeout: u64,
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Users, or members of one group; more fails the sync.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

fn default_okta_active_statuses() -> Vec<String> {
    ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"]
        .map(String::from)
        .to_vec()
}
fn default_okta_uid_attribute() -> String {
    "uidNumber".into()
}
fn default_okta_gid_attribute() -> String {
    "gidNumber".into()
}
fn default_okta_home_attribute() -> String {
    "homeDirectory".into()
}
fn default_okta_shell_attribute() -> String {
    "loginShell".into()
}
fn default_okta_ssh_keys_attribute() -> String {
    "sshPublicKey".into()
}
fn default_okta_group_name_attribute() -> String {
    "name".into()
}
fn default_okta_page_size() -> u32 {
    1000
}
fn default_okta_max_rate_limit_wait() -> u64 {
    120
}

fn default_page_size() -> u32 {
    200
}
fn default_full_sync_interval() -> u64 {
    3600
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_request_timeout() -> u64 {
    60
}
fn default_max_response_bytes() -> u64 {
    64 << 20
}
fn default_max_entries() -> usize {
    1_000_000
}

/// Where each POSIX field comes from in a SCIM resource: an attribute name (`userName`), a
/// sub-attribute (`name.formatted`) or an extension attribute by its full URN
/// (`urn:…:User:uidNumber`), as in RFC 7644 §3.10.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MappingConfig {
    pub user_name: String,
    /// Remove an `@domain` suffix from the user name (`alice@example.com` → `alice`).
    pub strip_domain: bool,
    pub gecos: String,
    pub uid: String,
    pub gid: String,
    pub home: String,
    pub shell: String,
    pub ssh_keys: String,
    pub emails: String,
    pub active: String,
    pub group_name: String,
    pub group_gid: String,
    /// Home directories are `{home_root}/{name}` unless the directory gives one.
    pub home_root: String,
    /// Where a home the directory gives may lie (strictly inside one of these); empty means
    /// `[home_root]`. Never `/` or a system directory.
    pub home_roots: Vec<String>,
    /// Used when the directory gives no shell or one not listed in `/etc/shells`.
    pub default_shell: String,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            user_name: "userName".into(),
            strip_domain: true,
            gecos: "displayName".into(),
            uid: format!("{POSIX_USER}:uidNumber"),
            gid: format!("{POSIX_USER}:gidNumber"),
            home: format!("{POSIX_USER}:homeDirectory"),
            shell: format!("{POSIX_USER}:loginShell"),
            ssh_keys: format!("{POSIX_USER}:sshPublicKey"),
            emails: "emails".into(),
            active: "active".into(),
            group_name: "displayName".into(),
            group_gid: format!("{POSIX_GROUP}:gidNumber"),
            home_root: "/home".into(),
            home_roots: Vec::new(),
            default_shell: "/bin/bash".into(),
        }
    }
}

/// Directories that hold the system, never a home root (nor anything inside them).
const SYSTEM_DIRS: [&str; 22] = [
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/tmp",
    "/usr",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/spool",
    "/var/run",
    "/var/tmp",
];

impl MappingConfig {
    /// The allowed home roots, in normal form.
    pub fn allowed_home_roots(&self) -> Vec<String> {
        let roots: &[String] = if self.home_roots.is_empty() {
            std::slice::from_ref(&self.home_root)
        } else {
            &self.home_roots
        };
        roots
            .iter()
            .map(|r| crate::mapping::normal_path(r))
            .collect()
    }

    fn check_home_roots(&self) -> std::result::Result<(), String> {
        let roots = self.allowed_home_roots();
        for root in &roots {
            let inside = |dir: &str| root == dir || crate::mapping::strictly_inside(root, dir);
            if root == "/" || root == "/var" || SYSTEM_DIRS.iter().any(|d| inside(d)) {
                return Err(format!(
                    "mapping.home_roots: {root} is a system directory, not a place for homes"
                ));
            }
            if roots
                .iter()
                .any(|other| crate::mapping::strictly_inside(root, other))
            {
                return Err(format!(
                    "mapping.home_roots: {root} lies inside another root; list the outer one only"
                ));
            }
        }
        let default_root = crate::mapping::normal_path(&self.home_root);
        if !roots.contains(&default_root) {
            return Err(format!(
                "mapping.home_roots must include home_root ({default_root}), where default homes are made"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    pub min_uid: u32,
    pub min_gid: u32,
    /// Numbers derived from the directory's immutable id when it holds none: `[first, last]`.
    pub derived_range: [u32; 2],
    /// What a derived number is computed from (README, "Numbers").
    pub derivation: Derivation,
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig {
            min_uid: 1000,
            min_gid: 1000,
            derived_range: [200_000, 2_000_200_000],
            derivation: Derivation::default(),
        }
    }
}

/// What a derived number is computed from. Numbers own files, so a host keeps the derivation it
/// started with: a config without the key is one written before derivation 2 existed, and keeps
/// derivation 1; the packaged example config sets 2 for new installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "i64")]
pub enum Derivation {
    /// `1`: the bare directory id. A user and a group with the same id (servers that count users
    /// and groups separately, such as django-scim2) get the same number, and the user is left out.
    #[default]
    BareId,
    /// `2`: the id qualified by its type, `user:ID` or `group:ID`, so users and groups never
    /// share a derivation key.
    TypeQualified,
}

impl TryFrom<i64> for Derivation {
    type Error = String;

    fn try_from(n: i64) -> std::result::Result<Self, String> {
        match n {
            1 => Ok(Derivation::BareId),
            2 => Ok(Derivation::TypeQualified),
            _ => Err(format!("ids.derivation must be 1 or 2, not {n}")),
        }
    }
}

/// A directory group named by a host policy list, in exactly one namespace: the directory's
/// immutable id (`id:00g1ab…`) or the group's POSIX name (`name:ops`). An entry that could be
/// read either way is refused when the config is loaded: matching "id or name" let a group whose
/// name equals another group's id take that group's grants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRef {
    /// The directory's id of the group (compared exactly).
    Id(String),
    /// The group's POSIX name, as mapped from the directory (compared exactly). A name that two
    /// or more directory groups share (ignoring ASCII case) matches none of them.
    Name(String),
}

impl GroupRef {
    pub const ID_PREFIX: &'static str = "id:";
    pub const NAME_PREFIX: &'static str = "name:";

    /// Parses one entry of the list `key`; the error says which form to write.
    pub fn parse(key: &str, entry: &str) -> std::result::Result<GroupRef, String> {
        let printable = crate::scim::printable(entry);
        if let Some(id) = entry.strip_prefix(Self::ID_PREFIX) {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                return Err(format!(
                    "{key} entry \"{printable}\": a directory id is 1 to 256 characters without control characters"
                ));
            }
            return Ok(GroupRef::Id(id.to_string()));
        }
        if let Some(name) = entry.strip_prefix(Self::NAME_PREFIX) {
            if let Some(reason) = crate::mapping::invalid_name_reason(name) {
                return Err(format!(
                    "{key} entry \"{printable}\": not a group name Usher maps ({reason})"
                ));
            }
            return Ok(GroupRef::Name(name.to_string()));
        }
        Err(format!(
            "{key} entry \"{printable}\": write \"{}{printable}\" or \"{}{printable}\" (a group is named by its name or by its directory id, never either)",
            Self::NAME_PREFIX,
            Self::ID_PREFIX
        ))
    }
}

impl std::fmt::Display for GroupRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupRef::Id(id) => write!(f, "{}{}", Self::ID_PREFIX, crate::scim::printable(id)),
            GroupRef::Name(name) => write!(f, "{}{name}", Self::NAME_PREFIX),
        }
    }
}

/// A list of group references under `key`, each checked by `GroupRef::parse`.
fn group_refs<'de, D: serde::Deserializer<'de>>(
    key: &str,
    deserializer: D,
) -> std::result::Result<Vec<GroupRef>, D::Error> {
    let entries = Vec::<String>::deserialize(deserializer)?;
    let mut refs = Vec::with_capacity(entries.len());
    for entry in &entries {
        let r = GroupRef::parse(key, entry).map_err(serde::de::Error::custom)?;
        if !refs.contains(&r) {
            refs.push(r);
        }
    }
    Ok(refs)
}

fn login_group_refs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<GroupRef>, D::Error> {
    group_refs("login_groups", d)
}

fn sudo_group_refs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<GroupRef>, D::Error> {
    group_refs("sudo_groups", d)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Directory groups whose members may log in here.
    #[serde(deserialize_with = "login_group_refs")]
    pub login_groups: Vec<GroupRef>,
    /// Directory groups whose members get sudo (and may log in).
    #[serde(deserialize_with = "sudo_group_refs")]
    pub sudo_groups: Vec<GroupRef>,
    /// Sudo without a password: certificate users have none.
    pub sudo_nopasswd: bool,
    /// End a user's sessions and processes when they lose login permission.
    pub end_sessions_on_revoke: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            login_groups: Vec::new(),
            sudo_groups: Vec::new(),
            sudo_nopasswd: true,
            end_sessions_on_revoke: false,
        }
    }
}

/// Which of a user's names a certificate may carry as its principal. Whatever the kinds, a
/// principal two users would get is served for neither, and one equal to a local account's name
/// is never served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// The POSIX name (`alice`).
    Name,
    /// The directory's userName (`alice@example.com`).
    UserName,
    /// The primary email only: the SCIM `emails` entry marked `primary`, or the only entry;
    /// Okta's `profile.email`. Never Okta's `secondEmail`, which users may edit unverified.
    Email,
    /// Every email address of the user. Unsafe unless the directory verifies every address a
    /// user can set: whoever can add `alice@example.com` to their record gets alice's
    /// certificates (the uniqueness rule then withholds it from both, which is a denial of
    /// service on alice). Opt-in only.
    Emails,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// A step-ca style `GET /ssh/roots` endpoint answering `{"userKey": [...]}`.
    pub user_ca_keys_url: Option<String>,
    /// A PEM CA for `user_ca_keys_url`, when it is served under a private CA.
    pub ca_file: Option<PathBuf>,
    /// A local file of trusted user CA public keys, one per line, used with or instead of the URL.
    pub user_ca_keys_file: Option<PathBuf>,
    pub principals: Vec<PrincipalKind>,
}

impl Default for SshConfig {
    fn default() -> Self {
        SshConfig {
            user_ca_keys_url: None,
            ca_file: None,
            user_ca_keys_file: None,
            principals: vec![
                PrincipalKind::Name,
                PrincipalKind::UserName,
                PrincipalKind::Email,
            ],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// A sync that would delete more than this share of the cached users is refused unless forced.
    pub max_delete_share: f64,
    /// Seconds between syncs.
    pub interval: u64,
    /// Up to this many seconds are added at random to each wait, so a fleet does not sync in step.
    pub jitter: u64,
    /// First wait after a failed sync; it doubles with each further failure, up to `backoff_max`.
    pub backoff_initial: u64,
    pub backoff_max: u64,
    /// `usherctl status` exits non-zero when the last successful sync is older than this.
    pub stale_after: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_delete_share: 0.5,
            interval: 60,
            jitter: 15,
            backoff_initial: 5,
            backoff_max: 900,
            stale_after: 3600,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| Error::Config {
            path: path.display().to_string(),
            reason,
        })
    }

    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        // One line, not TOML's multi-line snippet: it ends up in a log line.
        let config: Config = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => format!(
                "line {}: {}",
                text[..span.start.min(text.len())].matches('\n').count() + 1,
                e.message()
            ),
            None => e.message().to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let ids = &self.ids;
        if ids.min_uid == 0 || ids.min_gid == 0 {
            return Err("ids.min_uid and ids.min_gid must be at least 1".into());
        }
        let [first, last] = ids.derived_range;
        if first > last || last > MAX_ID {
            return Err(format!(
                "ids.derived_range must be [first, last] with first <= last <= {MAX_ID}"
            ));
        }
        if first < ids.min_uid.max(ids.min_gid) {
            return Err("ids.derived_range must start at or above min_uid and min_gid".into());
        }
        if first <= *SYSTEMD_DYNAMIC_IDS.end() && last >= *SYSTEMD_DYNAMIC_IDS.start() {
            return Err(
                "ids.derived_range must not overlap systemd's dynamic ids 61184-65519".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.sync.max_delete_share) {
            return Err("sync.max_delete_share must be between 0 and 1".into());
        }
        if self.sync.interval == 0 || self.sync.backoff_initial == 0 {
            return Err("sync.interval and sync.backoff_initial must be at least 1 second".into());
        }
        if self.sync.backoff_max < self.sync.backoff_initial {
            return Err("sync.backoff_max must be at least sync.backoff_initial".into());
        }
        match &self.directory {
            DirectoryConfig::Scim(scim) => scim.check()?,
            DirectoryConfig::Okta(okta) => okta.check()?,
            DirectoryConfig::File { .. } => {}
        }
        if let Some(url) = &self.ssh.user_ca_keys_url {
            check_url(url, "ssh.user_ca_keys_url")?;
        }
        let m = &self.mapping;
        for (key, value) in [
            ("home_root", &m.home_root),
            ("default_shell", &m.default_shell),
        ]
        .into_iter()
        .chain(m.home_roots.iter().map(|r| ("home_roots", r)))
        {
            if !value.starts_with('/') || value.contains("..") {
                return Err(format!(
                    "mapping.{key} must be an absolute path without '..'"
                ));
            }
        }
        m.check_home_roots()?;
        Ok(())
    }

    /// How the snapshot's source is named in the cache and in logs. Never holds a secret.
    pub fn source_label(&self) -> String {
        match &self.directory {
            DirectoryConfig::File { path } => format!("file:{}", path.display()),
            DirectoryConfig::Scim(scim) => format!("scim:{}", scim.url),
            DirectoryConfig::Okta(okta) => format!("okta:{}", okta.org_url),
        }
    }
}

/// A URL Usher may fetch from: https, or http on loopback only; no credentials inside.
fn check_url(text: &str, key: &str) -> std::result::Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{key}: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{key} must not hold credentials"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "{key} must be https:// (http:// only for loopback)"
        )),
        other => Err(format!("{key}: unsupported scheme {other}")),
    }
}

impl ScimConfig {
    fn check(&self) -> std::result::Result<(), String> {
        check_url(&self.url, "directory.url")?;
        if !(1..=1000).contains(&self.page_size) {
            return Err("directory.page_size must be between 1 and 1000".into());
        }
        if self.connect_timeout == 0 || self.request_timeout == 0 {
            return Err("directory timeouts must be at least 1 second".into());
        }
        Ok(())
    }
}

/// An Okta group id: `00g` and 17 more letters or digits.
pub fn is_okta_group_id(entry: &str) -> bool {
    entry.len() == 20
        && entry.starts_with("00g")
        && entry.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl OktaConfig {
    /// The scopes asked for in the token request.
    pub fn scopes(&self) -> Vec<String> {
        self.scopes
            .clone()
            .unwrap_or_else(|| vec!["okta.users.read".into(), "okta.groups.read".into()])
    }

    fn check(&self) -> std::result::Result<(), String> {
        check_url(&self.org_url, "directory.org_url")?;
        let url = reqwest::Url::parse(&self.org_url).map_err(|e| e.to_string())?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "directory.org_url must be the org's URL alone, e.g. https://example.okta.com"
                    .into(),
            );
        }
        if self.org_url.ends_with('/') {
            return Err("directory.org_url must not end with '/'".into());
        }
        if self.groups.is_empty() {
            return Err("directory.groups must name at least one Okta group".into());
        }
        let mut seen = std::collections::HashSet::new();
        for group in &self.groups {
            if group.trim().is_empty() || group.len() > 255 || group.chars().any(char::is_control) {
                return Err(format!(
                    "directory.groups: {group:?} is not an Okta group name (1 to 255 characters, no control characters)"
                ));
            }
            if group.contains('/') {
                return Err(format!(
                    "directory.groups: {group:?} contains '/': Okta group names with '/' are not supported (Okta refuses to push them as well); rename the group in Okta or name it by its id (00g…)"
                ));
            }
            if !seen.insert(group.as_str()) {
                return Err(format!("directory.groups lists {group:?} twice"));
            }
        }
        match (&self.token_file, &self.client_id, &self.private_key_file) {
            (Some(_), None, None) => {
                if self.key_id.is_some() || self.scopes.is_some() {
                    return Err("directory.key_id and directory.scopes go with client_id and private_key_file, not token_file".into());
                }
            }
            (None, Some(client_id), Some(_)) => {
                if client_id.is_empty()
                    || !client_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                {
                    return Err("directory.client_id is not an Okta client id".into());
                }
                if let Some(kid) = &self.key_id {
                    if kid.is_empty() || kid.chars().any(|c| c.is_control() || c == '"') {
                        return Err("directory.key_id must be a non-empty printable string".into());
                    }
                }
                let scopes = self.scopes();
                if scopes.is_empty()
                    || scopes.iter().any(|s| {
                        s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
                    })
                {
                    return Err("directory.scopes must list one or more scopes such as okta.users.read".into());
                }
            }
            (None, None, None) => {
                return Err("directory: give token_file (an API token), or client_id and private_key_file (OAuth 2.0 service app)".into())
            }
            (Some(_), _, _) => {
                return Err("directory: token_file and client_id/private_key_file are two ways to authenticate; give one".into())
            }
            (None, _, _) => {
                return Err("directory: OAuth 2.0 needs both client_id and private_key_file".into())
            }
        }
        if self.active_statuses.is_empty() {
            return Err("directory.active_statuses must list at least one status".into());
        }
        for status in &self.active_statuses {
            if !OKTA_STATUSES.contains(&status.as_str()) {
                return Err(format!(
                    "directory.active_statuses: {status:?} is not an Okta user status ({})",
                    OKTA_STATUSES.join(", ")
                ));
            }
        }
        for (key, value) in [
            ("uid_attribute", &self.uid_attribute),
            ("gid_attribute", &self.gid_attribute),
            ("home_attribute", &self.home_attribute),
            ("shell_attribute", &self.shell_attribute),
            ("ssh_keys_attribute", &self.ssh_keys_attribute),
            ("group_name_attribute", &self.group_name_attribute),
            ("group_gid_attribute", &self.group_gid_attribute),
        ] {
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(format!(
                    "directory.{key} must be an Okta profile attribute name (letters, digits, '_')"
                ));
            }
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err("directory.page_size must be between 1 and 1000".into());
        }
        if self.connect_timeout == 0 || self.request_timeout == 0 || self.max_rate_limit_wait == 0 {
            return Err(
                "directory timeouts and max_rate_limit_wait must be at least 1 second".into(),
            );
        }
        if self.full_sync_interval == 0 {
            return Err("directory.full_sync_interval must be at least 1 second".into());
        }
        Ok(())
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_config_gets_defaults() {
        let c = Config::parse("[directory]\nkind = \"file\"\npath = \"/tmp/d.json\"\n").unwrap();
        assert_eq!(c.ids.min_uid, 1000);
        assert_eq!(c.ids.derived_range, [200_000, 2_000_200_000]);
        assert_eq!(c.mapping.user_name, "userName");
        assert!(c.mapping.strip_domain);
        assert_eq!(
            c.mapping.uid,
            "urn:usher:params:scim:schemas:extension:posix:2.0:User:uidNumber"
        );
        assert_eq!(c.source_label(), "file:/tmp/d.json");
        assert!(c.access.login_groups.is_empty());
    }

    #[test]
    fn scim_config_requires_tls_except_on_loopback() {
        let scim = |url: &str| {
            Config::parse(&format!(
                "[directory]\nkind = \"scim\"\nurl = \"{url}\"\ntoken_file = \"/etc/usher/token\"\n"
            ))
        };
        let c = scim("https://dir.example.com/scim/v2").unwrap();
        assert_eq!(c.source_label(), "scim:https://dir.example.com/scim/v2");
        assert!(scim("http://127.0.0.1:8080/scim/v2").is_ok());
        assert!(scim("http://localhost:8080").is_ok());
        assert!(scim("http://dir.example.com/scim/v2").is_err());
        assert!(scim("https://user:pw@dir.example.com/").is_err());
        assert!(scim("ftp://dir.example.com/").is_err());
    }

    fn okta(extra: &str) -> std::result::Result<Config, String> {
        Config::parse(&format!(
            "[directory]\nkind = \"okta\"\norg_url = \"https://example.okta.com\"\n{extra}"
        ))
    }

    #[test]
    fn okta_config_with_a_token_or_a_service_app() {
        let c = okta("groups = [\"linux-users\", \"00g1abcdefghijklmnop\"]\ntoken_file = \"/etc/usher/okta-token\"\n")
            .unwrap();
        assert_eq!(c.source_label(), "okta:https://example.okta.com");
        let DirectoryConfig::Okta(o) = &c.directory else {
            panic!("not okta")
        };
        assert_eq!(
            o.active_statuses,
            ["ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY"]
        );
        assert_eq!(o.uid_attribute, "uidNumber");
        assert_eq!(o.ssh_keys_attribute, "sshPublicKey");
        assert_eq!(o.page_size, 1000);
        assert_eq!(o.full_sync_interval, 3600);
        assert!(is_okta_group_id(&o.groups[1]));
        assert!(!is_okta_group_id(&o.groups[0]));
        assert!(!is_okta_group_id("00gshort"));
        let c = okta("groups = [\"ops\"]\nclient_id = \"0oa1abcdefghijklmnop\"\nprivate_key_file = \"/etc/usher/okta.pem\"\nkey_id = \"k1\"\n").unwrap();
        let DirectoryConfig::Okta(o) = &c.directory else {
            panic!("not okta")
        };
        assert_eq!(o.scopes(), ["okta.users.read", "okta.groups.read"]);
        let c = okta("groups = [\"ops\"]\nclient_id = \"0oa1\"\nprivate_key_file = \"/k\"\nscopes = [\"okta.users.read\", \"okta.groups.read\", \"okta.apps.read\"]\nactive_statuses = [\"ACTIVE\"]\nuid_attribute = \"unix_uid\"\n").unwrap();
        let DirectoryConfig::Okta(o) = &c.directory else {
            panic!("not okta")
        };
        assert_eq!(o.scopes().len(), 3);
        assert_eq!(o.active_statuses, ["ACTIVE"]);
        // http only on loopback, as for SCIM.
        assert!(Config::parse("[directory]\nkind = \"okta\"\norg_url = \"http://127.0.0.1:8080\"\ngroups = [\"ops\"]\ntoken_file = \"/t\"\n").is_ok());
    }

    #[test]
    fn okta_config_is_checked() {
        let token = "token_file = \"/t\"\n";
        let refused = |extra: &str, want: &str| {
            let err = okta(extra).unwrap_err();
            assert!(err.contains(want), "{extra}: {err}");
        };
        refused(
            &format!("groups = [\"Eng/Linux\"]\n{token}"),
            "contains '/'",
        );
        refused(&format!("groups = []\n{token}"), "at least one Okta group");
        refused(&format!("groups = [\"ops\", \"ops\"]\n{token}"), "twice");
        refused(
            &format!("groups = [\" \"]\n{token}"),
            "not an Okta group name",
        );
        refused("groups = [\"ops\"]\n", "give token_file");
        refused(
            &format!(
                "groups = [\"ops\"]\n{token}client_id = \"0oa1\"\nprivate_key_file = \"/k\"\n"
            ),
            "give one",
        );
        refused(
            "groups = [\"ops\"]\nclient_id = \"0oa1\"\n",
            "both client_id and private_key_file",
        );
        refused(
            "groups = [\"ops\"]\nprivate_key_file = \"/k\"\n",
            "both client_id and private_key_file",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}key_id = \"k\"\n"),
            "go with client_id",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}scopes = [\"x\"]\n"),
            "go with client_id",
        );
        refused(
            "groups = [\"ops\"]\nclient_id = \"0oa1\"\nprivate_key_file = \"/k\"\nscopes = []\n",
            "directory.scopes",
        );
        refused(
            "groups = [\"ops\"]\nclient_id = \"a b\"\nprivate_key_file = \"/k\"\n",
            "client id",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}active_statuses = [\"ENABLED\"]\n"),
            "not an Okta user status",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}active_statuses = []\n"),
            "at least one status",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}uid_attribute = \"uid number\"\n"),
            "uid_attribute",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}page_size = 0\n"),
            "page_size",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}page_size = 1001\n"),
            "page_size",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}max_rate_limit_wait = 0\n"),
            "at least 1 second",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}full_sync_interval = 0\n"),
            "full_sync_interval",
        );
        refused(
            &format!("groups = [\"ops\"]\n{token}url = \"https://x\"\n"),
            "unknown field",
        );
        for org in [
            "http://example.okta.com",
            "https://example.okta.com/",
            "https://example.okta.com/oauth2/default",
            "https://example.okta.com?x=1",
            "https://u:p@example.okta.com",
        ] {
            let err = Config::parse(&format!(
                "[directory]\nkind = \"okta\"\norg_url = \"{org}\"\ngroups = [\"ops\"]\n{token}"
            ))
            .unwrap_err();
            assert!(err.contains("org_url"), "{org}: {err}");
        }
    }

    #[test]
    fn errors_are_one_line_with_the_line_number() {
        let err = Config::parse("[directory]\nkind = \"file\"\npath = \"/d\"\n[ids]\nmn_gid = 5\n")
            .unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("line 5: unknown field `mn_gid`"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_refused() {
        let base = "[directory]\nkind = \"file\"\npath = \"/d.json\"\n";
        assert!(Config::parse(&format!("{base}[ids]\nmin_uid = 1000\nmn_gid = 5\n")).is_err());
        assert!(Config::parse("[directory]\nkind = \"ldap\"\n").is_err());
        assert!(Config::parse(&format!("{base}[ids]\nmin_uid = 0\n")).is_err());
        assert!(Config::parse(&format!("{base}[ids]\nderived_range = [60000, 70000]\n")).is_err());
        assert!(Config::parse(&format!("{base}[ids]\nderived_range = [900, 5000]\n")).is_err());
        assert!(Config::parse(&format!(
            "{base}[ids]\nderived_range = [100000, 3000000000]\n"
        ))
        .is_err());
        assert!(Config::parse(&format!("{base}[sync]\nmax_delete_share = 1.5\n")).is_err());
        assert!(Config::parse(&format!("{base}[mapping]\nhome_root = \"home\"\n")).is_err());
    }

    #[test]
    fn home_roots_are_never_system_directories() {
        let base = "[directory]\nkind = \"file\"\npath = \"/d.json\"\n[mapping]\n";
        let c = Config::parse(base).unwrap();
        assert_eq!(c.mapping.allowed_home_roots(), ["/home"]);
        let c = Config::parse(&format!(
            "{base}home_root = \"/home/\"\nhome_roots = [\"/home\", \"/srv/home\", \"/var/home\"]\n"
        ))
        .unwrap();
        assert_eq!(
            c.mapping.allowed_home_roots(),
            ["/home", "/srv/home", "/var/home"]
        );
        for (extra, why) in [
            ("home_root = \"/\"\n", "system directory"),
            ("home_root = \"/etc\"\n", "system directory"),
            ("home_root = \"/usr/local/home\"\n", "system directory"),
            ("home_root = \"/var\"\n", "system directory"),
            ("home_roots = [\"/home\", \"/root\"]\n", "system directory"),
            (
                "home_roots = [\"/home\", \"/home/staff\"]\n",
                "inside another root",
            ),
            ("home_roots = [\"/srv/home\"]\n", "must include home_root"),
            ("home_roots = [\"/home\", \"srv\"]\n", "absolute path"),
        ] {
            let err = Config::parse(&format!("{base}{extra}")).unwrap_err();
            assert!(err.contains(why), "{extra}: {err}");
        }
    }

    #[test]
    fn default_principals_are_only_what_the_directory_vouches_for() {
        let c = Config::parse("[directory]\nkind = \"file\"\npath = \"/d\"\n").unwrap();
        assert_eq!(
            c.ssh.principals,
            [
                PrincipalKind::Name,
                PrincipalKind::UserName,
                PrincipalKind::Email
            ]
        );
        let c = Config::parse(
            "[directory]\nkind = \"file\"\npath = \"/d\"\n[ssh]\nprincipals = [\"name\", \"emails\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.ssh.principals,
            [PrincipalKind::Name, PrincipalKind::Emails]
        );
    }

    #[test]
    fn policy_groups_are_named_by_id_or_by_name_never_either() {
        let base = "[directory]\nkind = \"file\"\npath = \"/d.json\"\n[access]\n";
        let c = Config::parse(&format!(
            "{base}login_groups = [\"name:ops\", \"id:00g1abcdefghijklmnop\", \"name:ops\"]\nsudo_groups = [\"id:g-admins\"]\n"
        ))
        .unwrap();
        assert_eq!(
            c.access.login_groups,
            [
                GroupRef::Name("ops".into()),
                GroupRef::Id("00g1abcdefghijklmnop".into())
            ]
        );
        assert_eq!(c.access.sudo_groups, [GroupRef::Id("g-admins".into())]);
        assert_eq!(
            c.access.login_groups[1].to_string(),
            "id:00g1abcdefghijklmnop"
        );
        // A bare entry is refused, and the message says what to write instead.
        let err = Config::parse(&format!("{base}login_groups = [\"ops\"]\n")).unwrap_err();
        assert!(
            err.contains(r#"login_groups entry "ops": write "name:ops" or "id:ops""#),
            "{err}"
        );
        assert!(err.starts_with("line 5"), "{err}");
        let err = Config::parse(&format!("{base}sudo_groups = [\"g-admins\"]\n")).unwrap_err();
        assert!(
            err.contains(r#"sudo_groups entry "g-admins": write"#),
            "{err}"
        );
        for bad in [
            "id:",
            "name:",
            "name:a b",
            "name:-x",
            "ID:x",
            "Name:ops",
            " name:ops",
        ] {
            let err = Config::parse(&format!("{base}sudo_groups = [\"{bad}\"]\n"));
            assert!(err.is_err(), "{bad} accepted");
        }
    }
}
