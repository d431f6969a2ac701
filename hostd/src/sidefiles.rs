//! The files usherd writes besides the cache: sshd's trusted user CA keys and the sudoers
//! drop-in. Each is validated first, written beside its target, fsynced and renamed, and only
//! when its content changes; a failed fetch or check never replaces a good file.

use crate::config::{Config, SshConfig};
use crate::mapping::MappedSnapshot;
use crate::scim::printable;
use crate::{io_error, Error, Result};
use base64ct::{Base64, Encoding};
use serde_json::Value;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

pub mod principals;

const MAX_CA_RESPONSE_BYTES: u64 = 1 << 20;
const MIN_RSA_BITS: usize = 2048;

/// Writes `content` to `path` atomically with `mode`, after `check` accepts the temp file.
/// Returns false when the file already had this content.
pub fn write_atomic(
    path: &Path,
    content: &[u8],
    mode: u32,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<bool> {
    if fs::read(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    // A name with a '.' is ignored by sudo while it sits in sudoers.d.
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_error(&tmp))?;
        f.write_all(content).map_err(io_error(&tmp))?;
        f.sync_all().map_err(io_error(&tmp))?;
        drop(f);
        check(&tmp)?;
        fs::rename(&tmp, path).map_err(io_error(path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// One trusted user CA key, checked: a public key (never a private one), of a supported
/// algorithm, RSA of at least 2048 bits. Accepts an OpenSSH line or step-ca's bare base64 of
/// the key's wire encoding. Errors never quote the input, which could be a private key.
pub fn parse_ca_key(text: &str) -> std::result::Result<ssh_key::PublicKey, String> {
    let text = text.trim();
    if text.contains("PRIVATE KEY") {
        return Err("a private key, not a public key".into());
    }
    let key = if text.contains(' ') {
        ssh_key::PublicKey::from_openssh(text)
            .map_err(|e| format!("not an OpenSSH public key ({e})"))?
    } else {
        let bytes = Base64::decode_vec(text)
            .map_err(|_| "neither an OpenSSH line nor base64".to_string())?;
        ssh_key::PublicKey::from_bytes(&bytes)
            .map_err(|e| format!("not an SSH public key ({e})"))?
    };
    match key.key_data() {
        ssh_key::public::KeyData::Rsa(rsa) => {
            let n = rsa.n.as_positive_bytes().unwrap_or(&[]);
            let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA key of {bits} bits (at least {MIN_RSA_BITS} required)"
                ));
            }
        }
        ssh_key::public::KeyData::Ed25519(_) | ssh_key::public::KeyData::Ecdsa(_) => {}
        _ => return Err(format!("unsupported algorithm {}", key.algorithm())),
    }
    Ok(key)
}

/// Every key line that passes `parse_ca_key`, in OpenSSH form, with a note for each refused one.
fn accept_keys<'a>(
    candidates: impl Iterator<Item = (String, &'a str)>,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for (origin, text) in candidates {
        if text.trim().is_empty() || text.trim_start().starts_with('#') {
            continue;
        }
        match parse_ca_key(text).and_then(|k| {
            let mut k = k;
            k.set_comment("usher-user-ca");
            k.to_openssh().map_err(|e| e.to_string())
        }) {
            Ok(line) if !keys.contains(&line) => keys.push(line),
            Ok(_) => {}
            Err(reason) => notes.push(format!("user CA key from {origin} refused: {reason}")),
        }
    }
    keys
}

async fn fetch_ca_keys(ssh: &SshConfig, url: &str) -> Result<Vec<String>> {
    let fail = |what: String| Error::SideFile(format!("user CA keys from {url}: {what}"));
    let client = crate::http::client(
        Duration::from_secs(10),
        Duration::from_secs(30),
        ssh.ca_file.as_deref(),
    )?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(crate::http::describe(e)))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status().as_u16())));
    }
    let body = crate::http::read_body(response, MAX_CA_RESPONSE_BYTES)
        .await
        .map_err(fail)?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))?;
    match doc.get("userKey") {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()),
        _ => Err(fail("no \"userKey\" list".into())),
    }
}

/// Updates the trusted user CA keys file from the configured sources. Any failure keeps the
/// current file: sshd must never lose its CA because a fetch failed.
pub async fn update_ca_keys(
    config: &Config,
    target: &Path,
    refused: &mut Vec<String>,
) -> Result<()> {
    let ssh = &config.ssh;
    if ssh.user_ca_keys_url.is_none() && ssh.user_ca_keys_file.is_none() {
        return Ok(());
    }
    let mut candidates: Vec<(String, String)> = Vec::new();
    if let Some(url) = &ssh.user_ca_keys_url {
        for key in fetch_ca_keys(ssh, url).await? {
            candidates.push((url.clone(), key));
        }
    }
    if let Some(file) = &ssh.user_ca_keys_file {
        let text = fs::read_to_string(file).map_err(io_error(file))?;
        for line in text.lines() {
            candidates.push((file.display().to_string(), line.to_string()));
        }
    }
    let keys = accept_keys(
        candidates.iter().map(|(o, t)| (o.clone(), t.as_str())),
        refused,
    );
    if keys.is_empty() {
        return Err(Error::SideFile(
            "no valid user CA key from the configured sources; the trusted keys file is kept as it was".into(),
        ));
    }
    let content = format!(
        "# Written by usherd: trusted SSH user CA keys. Do not edit.\n{}\n",
        keys.join("\n")
    );
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    if write_atomic(target, content.as_bytes(), 0o644, |_| Ok(()))? {
        log::info!(
            "trusted user CA keys updated: {} key(s) in {}",
            keys.len(),
            target.display()
        );
    }
    Ok(())
}

/// The sudoers drop-in: one `%#gid` rule per directory group the mapping resolved from
/// `[access] sudo_groups` (the same resolution that marks users `can_sudo`, so the two agree).
/// Rules name groups by gid (`%#gid`), so a rename in the directory cannot move sudo to another
/// group.
pub fn sudoers_content(config: &Config, snapshot: &MappedSnapshot) -> String {
    let tag = if config.access.sudo_nopasswd {
        "NOPASSWD: "
    } else {
        ""
    };
    let mut out = String::from("# Written by usherd from [access] sudo_groups. Do not edit.\n");
    let mut groups: Vec<(u32, &str)> = snapshot.sudo_groups().map(|g| (g.gid, &*g.name)).collect();
    groups.sort_by_key(|g| g.0);
    for (gid, name) in groups {
        // Names passed validation (letters, digits, '_', '.', '-'): safe in a comment.
        out.push_str(&format!(
            "%#{gid} ALL=(ALL:ALL) {tag}ALL\t# {}\n",
            printable(name)
        ));
    }
    out
}

/// Writes the sudoers drop-in if sudo is installed, after `visudo -cf` accepts it.
pub fn update_sudoers(config: &Config, snapshot: &MappedSnapshot, target: &Path) -> Result<()> {
    let Some(dir) = target.parent().filter(|d| d.is_dir()) else {
        return Ok(()); // No sudoers.d: sudo is not installed here.
    };
    let content = sudoers_content(config, snapshot);
    let check = |tmp: &Path| -> Result<()> {
        let output = std::process::Command::new("visudo")
            .arg("-cf")
            .arg(tmp)
            .output()
            .map_err(|e| {
                Error::SideFile(format!("cannot run visudo to check the sudoers file: {e}"))
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::SideFile(format!(
                "visudo refused the generated sudoers file, the old one stays: {}",
                printable(String::from_utf8_lossy(&output.stderr).trim())
            )))
        }
    };
    if write_atomic(target, content.as_bytes(), 0o440, check)? {
        log::info!(
            "sudoers rules updated in {}",
            dir.join(target.file_name().unwrap_or_default()).display()
        );
    }
    Ok(())
}

/// Ends the sessions and processes of users who lost login permission: `loginctl
/// terminate-user` where systemd runs, then SIGTERM and, after a grace period, SIGKILL to any
/// process still running under the uid.
pub fn end_sessions(users: &[(String, u32)]) {
    if users.is_empty() {
        return;
    }
    if Path::new("/run/systemd/system").is_dir() {
        for (name, _) in users {
            let status = std::process::Command::new("loginctl")
                .args(["terminate-user", name])
                .status();
            log::info!(
                "ended the sessions of {name}: loginctl terminate-user {}",
                match status {
                    Ok(s) if s.success() => "succeeded".to_string(),
                    Ok(s) => format!("exited {s}"),
                    Err(e) => format!("failed: {e}"),
                }
            );
        }
    }
    // One grace period for everyone, so many revocations at once cannot stall the daemon.
    let mut signalled = vec![0; users.len()];
    for signal in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGKILL] {
        let mut any = false;
        for ((_, uid), count) in users.iter().zip(signalled.iter_mut()) {
            let pids = processes_of(*uid);
            for pid in &pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), signal);
            }
            *count = (*count).max(pids.len());
            any |= !pids.is_empty();
        }
        if !any {
            break;
        }
        if signal == nix::sys::signal::SIGTERM {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    for ((name, uid), count) in users.iter().zip(signalled) {
        log::info!("ended {count} process(es) of {name} (uid {uid}) after losing login permission");
    }
}

/// Pids whose real or effective uid is `uid`, from /proc.
fn processes_of(uid: u32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .is_some_and(|ids| {
                        ids.split_whitespace()
                            .take(2)
                            .any(|id| id == uid.to_string())
                    })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
