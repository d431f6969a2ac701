# %postun for usher. $1: 0 on erase, 1 or more on upgrade.
/sbin/ldconfig
if [ "$1" -eq 0 ]; then
    # No purge in RPM: erase removes what usherd wrote (cache, state, sudoers drop-in, CA keys);
    # /etc/usher/usher.toml and the administrator's own files stay.
    rm -f /etc/sudoers.d/usher /etc/sudoers.d/.usher.tmp.*
    rm -rf /var/lib/usher
    rm -f /etc/usher/trusted_user_ca_keys /etc/usher/.trusted_user_ca_keys.tmp.*
    # The package owns no directories (see packaging/Cargo.toml): remove its empty ones.
    rmdir /usr/lib/usher /usr/share/doc/usher/examples /usr/share/doc/usher \
        /usr/share/authselect/vendor/usher /etc/usher 2>/dev/null || :
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
    # The sshd drop-in is gone with the package: let a running sshd forget it too, if the
    # configuration left behind passes sshd -t.
    if [ -x /usr/sbin/sshd ] && /usr/sbin/sshd -t >/dev/null 2>&1; then
        if [ -d /run/systemd/system ]; then
            systemctl try-reload-or-restart sshd.service >/dev/null 2>&1 || :
        elif [ -r /run/sshd.pid ]; then
            kill -HUP "$(cat /run/sshd.pid)" 2>/dev/null || :
        elif [ -r /var/run/sshd.pid ]; then
            kill -HUP "$(cat /var/run/sshd.pid)" 2>/dev/null || :
        fi
    fi
else
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        systemctl try-restart usherd.service >/dev/null 2>&1 || :
    fi
fi
exit 0
