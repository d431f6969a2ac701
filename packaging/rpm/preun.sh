# %preun for usher. $1: 0 on erase, 1 or more on upgrade.
# On erase, stop if a PAM file still names pam_usher.so (through authselect or by hand): a missing
# module in a `requisite` line would refuse every login, root's included.
if [ "$1" -eq 0 ]; then
    if left=$(grep -RlsE '^[[:space:]]*-?[a-z]+[[:space:]].*pam_usher\.so' /etc/pam.d/); then
        echo "usher: these PAM files still use pam_usher.so:" >&2
        echo "$left" >&2
        echo "usher: erasing the package would break logins through them. First switch authselect back" >&2
        echo "usher: (authselect backup-restore before-usher, or authselect select PROFILE) or take the" >&2
        echo "usher: lines out, then erase the package again." >&2
        exit 1
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl --no-reload disable --now usherd.service >/dev/null 2>&1 || :
    fi
    if [ ! -L /etc/nsswitch.conf ] && grep -qsE '^[[:space:]]*(passwd|group|initgroups)[[:space:]]*:[^#]*[[:space:]]usher([[:space:]]|$)' /etc/nsswitch.conf; then
        if command -v authselect >/dev/null 2>&1 && authselect current >/dev/null 2>&1; then
            echo "usher: /etc/nsswitch.conf (managed by authselect) still names usher; select a profile without it" >&2
        else
            /usr/lib/usher/nsswitch-edit remove || \
                echo "usher: could not take usher out of /etc/nsswitch.conf; remove it from the passwd and group lines" >&2
        fi
    fi
fi
exit 0
