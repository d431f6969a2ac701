//! Secrets read from files: checked for ownership and mode, never printed.

use crate::{io_error, Error, Result};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a configured secret lives: a path, or `credential:NAME` for a systemd credential
/// (`LoadCredential=NAME:…` in the unit), read from `$CREDENTIALS_DIRECTORY/NAME`.
pub fn resolve_secret_path(configured: &Path) -> Result<PathBuf> {
    let Some(name) = configured
        .to_str()
        .and_then(|s| s.strip_prefix("credential:"))
    else {
        return Ok(configured.to_path_buf());
    };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::Config {
            path: configured.display().to_string(),
            reason: "a credential name is one file name".into(),
        });
    }
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Ok(PathBuf::from(dir).join(name)),
        None => Err(Error::Config {
            path: configured.display().to_string(),
            reason:
                "CREDENTIALS_DIRECTORY is not set: start usherd from a unit with LoadCredential="
                    .into(),
        }),
    }
}

/// Reads a secret from `path` (see `resolve_secret_path`), refusing a file that another user owns
/// or that others can read or write: a token readable by everyone on the host is a token for
/// everyone on the host.
pub fn read_secret_file(configured: &Path) -> Result<Secret> {
    let resolved = resolve_secret_path(configured)?;
    let path = resolved.as_path();
    let refuse = |reason: String| Error::Config {
        path: path.display().to_string(),
        reason,
    };
    let md = std::fs::metadata(path).map_err(io_error(path))?;
    let owner = md.uid();
    let me = nix::unistd::geteuid().as_raw();
    if owner != 0 && owner != me {
        return Err(refuse(format!(
            "secret file is owned by uid {owner}; it must be owned by root"
        )));
    }
    if md.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "secret file has mode {:04o}; it must not be accessible to group or others (chmod 600)",
            md.mode() & 0o7777
        )));
    }
    if !md.is_file() || md.len() > MAX_SECRET_BYTES {
        return Err(refuse("secret file is not a small regular file".into()));
    }
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let value = text.trim().to_string();
    if value.is_empty() {
        return Err(refuse("secret file is empty".into()));
    }
    Ok(Secret(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn refuses_files_others_can_read_and_never_prints_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-token\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_file(&path).unwrap_err().to_string();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(!err.contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = read_secret_file(&path).unwrap();
        assert_eq!(secret.expose(), "s3cret-token");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        std::fs::write(&path, " \n").unwrap();
        assert!(read_secret_file(&path).is_err());
    }

    #[test]
    fn credentials_come_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scim-token"), "from-systemd").unwrap();
        std::fs::set_permissions(
            dir.path().join("scim-token"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        assert_eq!(
            resolve_secret_path(Path::new("/etc/usher/t")).unwrap(),
            Path::new("/etc/usher/t")
        );
        assert!(resolve_secret_path(Path::new("credential:../x")).is_err());
        // The only test touching this variable, so no other test sees it change.
        std::env::set_var("CREDENTIALS_DIRECTORY", dir.path());
        let secret = read_secret_file(Path::new("credential:scim-token"));
        std::env::remove_var("CREDENTIALS_DIRECTORY");
        assert_eq!(secret.unwrap().expose(), "from-systemd");
        assert!(resolve_secret_path(Path::new("credential:scim-token")).is_err());
    }
}
