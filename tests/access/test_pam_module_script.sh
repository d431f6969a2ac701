# pam-module/tests/pamtester.sh: pam_usher.so through libpam with its own test services, every
# decision, home creation and broken caches (a cache built by the mkcache example), in this
# test's private namespace.
bash "$USHER_ROOT/pam-module/tests/pamtester.sh"
