//! Publishes a small Usher snapshot for the PAM tests (pamtester.sh), through the same
//! `usher_cache::publish` the daemon uses.
//!
//! Usage: mkcache CACHE_PATH USER...
//! where USER is `name:uid:home:active:can_login:can_sudo` (flags 0/1; the gid is the uid).

use std::error::Error;
use std::path::Path;
use usher_cache::{Meta, Snapshot, User};

fn flag(s: &str) -> Result<bool, Box<dyn Error>> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("flag must be 0 or 1, not {s:?}").into()),
    }
}

fn parse(spec: &str) -> Result<User, Box<dyn Error>> {
    let f: Vec<&str> = spec.split(':').collect();
    let [name, uid, home, active, login, sudo] = f[..] else {
        return Err(format!("bad user spec {spec:?}").into());
    };
    let uid: u32 = uid.parse()?;
    Ok(User {
        name: name.into(),
        uid,
        gid: uid,
        gecos: name.into(),
        home: home.into(),
        shell: "/bin/bash".into(),
        active: flag(active)?,
        can_login: flag(login)?,
        can_sudo: flag(sudo)?,
        directory_id: format!("id-{name}"),
        directory_name: format!("{name}@example.com"),
        emails: vec![],
        ssh_keys: vec![],
        principals: vec![],
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut argv = std::env::args().skip(1);
    let path = argv.next().ok_or("usage: mkcache CACHE_PATH USER...")?;
    let users = argv.map(|s| parse(&s)).collect::<Result<Vec<_>, _>>()?;
    let snapshot = Snapshot {
        users,
        groups: vec![],
    };
    let meta = Meta {
        generation: 1,
        built_at: 0,
        source: "pam-module/examples/mkcache".into(),
        content_hash: snapshot.content_hash(),
    };
    usher_cache::publish(Path::new(&path), &snapshot, &meta)?;
    println!("published {} users to {path}", snapshot.users.len());
    Ok(())
}
