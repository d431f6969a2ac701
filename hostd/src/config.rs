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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DirectoryConfig {
    /// A JSON export `{"Users": [...], "Groups": [...]}` of SCIM 2.0 resources.
    File { path: PathBuf },
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
            default_shell: "/bin/bash".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    pub min_uid: u32,
    pub min_gid: u32,
    /// Numbers derived from the directory's immutable id when it holds none: `[first, last]`.
    pub derived_range: [u32; 2],
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig {
            min_uid: 1000,
            min_gid: 1000,
            derived_range: [200_000, 2_000_200_000],
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Directory groups (by name or by the directory's group id) whose members may log in here.
    pub login_groups: Vec<String>,
    /// Directory groups whose members get sudo (and may log in).
    pub sudo_groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// A sync that would delete more than this share of the cached users is refused unless forced.
    pub max_delete_share: f64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_delete_share: 0.5,
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
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
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
        let m = &self.mapping;
        for (key, value) in [
            ("home_root", &m.home_root),
            ("default_shell", &m.default_shell),
        ] {
            if !value.starts_with('/') || value.contains("..") {
                return Err(format!(
                    "mapping.{key} must be an absolute path without '..'"
                ));
            }
        }
        Ok(())
    }

    /// How the snapshot's source is named in the cache and in logs. Never holds a secret.
    pub fn source_label(&self) -> String {
        match &self.directory {
            DirectoryConfig::File { path } => format!("file:{}", path.display()),
        }
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
}
