use super::*;
use crate::config::Config;
use std::process::Command;

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMxxPmMvHjAUx40cuQ4SzMtAQZXvWMgbJqknBVONuD3p ca@example";

fn keygen(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", "test", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen must be installed (openssh-client)");
    assert!(status.success());
    let public = fs::read_to_string(path.with_extension("pub")).unwrap();
    let private = fs::read_to_string(&path).unwrap();
    (public, private)
}

fn config(extra: &str) -> Config {
    Config::parse(&format!(
        "[directory]\nkind = \"file\"\npath = \"/d.json\"\n{extra}"
    ))
    .unwrap()
}

#[test]
fn ca_keys_are_checked_and_private_keys_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    assert!(parse_ca_key(ED25519).is_ok());
    let blob = ED25519.split_whitespace().nth(1).unwrap();
    assert_eq!(
        parse_ca_key(blob).unwrap().key_data(),
        parse_ca_key(ED25519).unwrap().key_data()
    );
    let (rsa_small, _) = keygen(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]);
    assert!(parse_ca_key(&rsa_small).unwrap_err().contains("1024 bits"));
    let (rsa_ok, _) = keygen(dir.path(), "rsa2048", &["-t", "rsa", "-b", "2048"]);
    assert!(parse_ca_key(&rsa_ok).is_ok());
    let (_, private) = keygen(dir.path(), "ed", &["-t", "ed25519"]);
    let err = parse_ca_key(&private).unwrap_err();
    assert!(err.contains("private key"));
    let secret_line = private.lines().nth(1).unwrap();
    assert!(!err.contains(secret_line));
    assert!(parse_ca_key("ssh-ed25519 AAAAnotbase64!!").is_err());
    assert!(parse_ca_key("hello").is_err());
}

#[test]
fn ca_keys_file_is_written_and_kept_when_nothing_valid_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("ca.pub");
    let target = dir.path().join("etc/trusted_user_ca_keys");
    let (rsa_small, _) = keygen(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]);
    fs::write(&source, format!("# team CA\n{ED25519}\n{rsa_small}\n")).unwrap();
    let c = config(&format!(
        "[ssh]\nuser_ca_keys_file = \"{}\"\n",
        source.display()
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut notes = Vec::new();
    rt.block_on(update_ca_keys(&c, &target, &mut notes))
        .unwrap();
    let written = fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().filter(|l| l.starts_with("ssh-")).count(), 1);
    assert!(written.contains(
        "AAAAC3NzaC1lZDI1NTE5AAAAIMxxPmMvHjAUx40cuQ4SzMtAQZXvWMgbJqknBVONuD3p usher-user-ca"
    ));
    assert!(notes.iter().any(|n| n.contains("1024 bits")), "{notes:?}");

    fs::write(&source, format!("{rsa_small}\n")).unwrap();
    let mut notes = Vec::new();
    assert!(rt
        .block_on(update_ca_keys(&c, &target, &mut notes))
        .is_err());
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        written,
        "a bad source never empties the file"
    );
    fs::remove_file(&source).unwrap();
    assert!(rt
        .block_on(update_ca_keys(&c, &target, &mut Vec::new()))
        .is_err());
    assert_eq!(fs::read_to_string(&target).unwrap(), written);
}

/// The mapped snapshot of four directory groups under `c`'s policy: admins, ops, dba, and a
/// group whose name is admins' directory id.
fn snapshot(c: &Config) -> crate::mapping::MappedSnapshot {
    use crate::mapping::{map_directory, DirectoryData, LocalAccounts, MappingContext};
    let group = |id: &str, name: &str, gid: u32| {
        serde_json::json!({"id": id, "displayName": name, "members": [],
            "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": gid}})
    };
    let data = DirectoryData {
        users: vec![],
        groups: vec![
            group("g-admins", "admins", 500002),
            group("g-ops", "ops", 500001),
            group("g-dba", "dba", 500003),
            group("g-look-alike", "g-admins", 500005),
        ],
    };
    let ctx = MappingContext {
        mapping: &c.mapping,
        ids: &c.ids,
        access: &c.access,
        principals: &c.ssh.principals,
        local: &LocalAccounts::default(),
        shells: &Default::default(),
        previous: None,
    };
    map_directory(data, &ctx).snapshot
}

#[test]
fn sudoers_names_groups_by_gid_and_passes_visudo() {
    let c = config(
        "[access]\nsudo_groups = [\"name:admins\", \"id:g-dba\", \"name:missing\", \"id:g-missing\"]\n",
    );
    let content = sudoers_content(&c, &snapshot(&c));
    assert_eq!(
        content,
        "# Written by usherd from [access] sudo_groups. Do not edit.\n\
         %#500002 ALL=(ALL:ALL) NOPASSWD: ALL\t# admins\n\
         %#500003 ALL=(ALL:ALL) NOPASSWD: ALL\t# dba\n"
    );
    let c2 = config("[access]\nsudo_groups = [\"name:ops\"]\nsudo_nopasswd = false\n");
    assert!(sudoers_content(&c2, &snapshot(&c2)).contains("%#500001 ALL=(ALL:ALL) ALL\t# ops\n"));
}

#[test]
fn sudoers_never_follows_a_group_named_like_another_groups_id() {
    // The audit's escalation: a group whose displayName is the sudo group's id got its rule.
    let c = config("[access]\nsudo_groups = [\"id:g-admins\"]\n");
    let content = sudoers_content(&c, &snapshot(&c));
    assert!(content.contains("%#500002 "), "{content}");
    assert!(!content.contains("%#500005"), "{content}");
    let c = config("[access]\nsudo_groups = [\"name:g-admins\"]\n");
    let content = sudoers_content(&c, &snapshot(&c));
    assert!(content.contains("%#500005 "), "{content}");
    assert!(!content.contains("%#500002"), "{content}");
}

#[test]
fn sudoers_file_is_written_only_where_sudoers_d_exists() {
    let c = config("[access]\nsudo_groups = [\"name:admins\", \"id:g-dba\"]\n");
    let content = sudoers_content(&c, &snapshot(&c));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sudoers.d/usher");
    update_sudoers(&c, &snapshot(&c), &target).unwrap();
    assert!(
        !target.exists(),
        "no sudoers.d directory: nothing is written"
    );
    fs::create_dir(dir.path().join("sudoers.d")).unwrap();
    update_sudoers(&c, &snapshot(&c), &target).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), content);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&target).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o440);
}

#[test]
fn a_file_that_fails_its_check_is_never_installed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("usher");
    assert!(write_atomic(&target, b"one\n", 0o440, |_| Ok(())).unwrap());
    assert!(
        !write_atomic(&target, b"one\n", 0o440, |_| Ok(())).unwrap(),
        "unchanged: not rewritten"
    );
    let refused = write_atomic(&target, b"two\n", 0o440, |_| {
        Err(Error::Source("bad".into()))
    });
    assert!(refused.is_err());
    assert_eq!(fs::read(&target).unwrap(), b"one\n");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // visudo itself refuses a broken rule.
    let check = |tmp: &Path| -> Result<()> {
        let ok = Command::new("visudo")
            .arg("-cf")
            .arg(tmp)
            .output()
            .unwrap()
            .status
            .success();
        if ok {
            Ok(())
        } else {
            Err(Error::Source("visudo".into()))
        }
    };
    assert!(write_atomic(&target, b"%#1 ALL=(ALL ALL\n", 0o440, check).is_err());
    assert_eq!(fs::read(&target).unwrap(), b"one\n");
}

#[test]
fn processes_of_finds_a_child_by_uid() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let uid = nix::unistd::getuid().as_raw();
    assert!(processes_of(uid).contains(&pid));
    assert!(!processes_of(4_000_000_000).contains(&pid));
    child.kill().unwrap();
    child.wait().unwrap();
}
