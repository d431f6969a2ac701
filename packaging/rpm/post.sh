# %post for usher. $1: 1 on install, 2 or more on upgrade. Idempotent.
mkdir -p /var/lib/usher/private
chown root:root /var/lib/usher /var/lib/usher/private
chmod 0755 /var/lib/usher
chmod 0700 /var/lib/usher/private
/sbin/ldconfig

if command -v authselect >/dev/null 2>&1 && authselect current >/dev/null 2>&1; then
    # authselect owns PAM and nsswitch.conf here: Usher comes in through its profile, chosen by
    # the administrator (docs: /usr/share/doc/usher/install.md).
    if ! grep -qs 'pam_usher\.so' /etc/authselect/system-auth; then
        echo "usher: PAM and nsswitch.conf are managed by authselect on this host. To wire Usher in:" >&2
        echo "usher:     authselect select usher --backup=before-usher    (add with-faillock etc. as before)" >&2
        echo "usher: or build your own profile on your current one: see /usr/share/doc/usher/install.md" >&2
    fi
else
    /usr/lib/usher/nsswitch-edit add || \
        echo "usher: /etc/nsswitch.conf was not changed; add 'usher' after 'files' on its passwd and group lines" >&2
    if ! grep -RqsE '^[[:space:]]*-?[a-z]+[[:space:]].*pam_usher\.so' /etc/pam.d/; then
        echo "usher: add pam_usher to PAM (account requisite, session optional): /usr/share/doc/usher/install.md" >&2
    fi
fi

/usr/lib/usher/sshd-reload || :

if command -v systemctl >/dev/null 2>&1; then
    if [ "$1" -eq 1 ]; then
        # Enabled, not started: it starts at boot once /etc/usher/usher.toml exists.
        systemctl --no-reload enable usherd.service >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 1 ] && [ ! -e /etc/usher/usher.toml ]; then
    echo "usher: installed. Write /etc/usher/usher.toml (see /etc/usher/usher.toml.example), then: systemctl start usherd" >&2
fi
exit 0
