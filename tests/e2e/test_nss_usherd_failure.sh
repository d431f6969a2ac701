# usherd failing (broken export, missing file, bad config) exits non-zero with one clear line, and
# the published cache stays byte-identical (same file, same inode): lookups keep answering.
usher_setup_sample
cp "$USHER_CACHE" "$NS/cache.before"
INODE=$(stat -c %i "$USHER_CACHE")
cp "$USHER_DIRECTORY" "$NS/directory.good"

cache_untouched() {
    cmp "$USHER_CACHE" "$NS/cache.before" || fail "$1: the cache changed"
    assert_eq "$INODE" "$(stat -c %i "$USHER_CACHE")" "$1: the cache file was replaced"
    assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
    local left
    left=$(find /var/lib/usher -maxdepth 1 -name '*cache.db?*')
    [ -z "$left" ] || fail "$1: temporary files left beside the cache: $left"
}

# expect_one_line_failure WHAT PATTERN: the last usherd_once failed with one line matching PATTERN.
expect_one_line_failure() {
    [ "$RC" != 0 ] || fail "$1: usherd exited 0 (stderr: $ERR)"
    if [ "$(grep -c . <<<"$ERR")" != 1 ]; then
        { echo "FAIL: $1: usherd should say what failed in one line"; _show stderr "$ERR"; } >&2
        exit 1
    fi
    assert_match "$ERR" "$2" "$1: the line says why"
    assert_eq "" "$OUT" "$1: nothing on stdout"
}

# Broken JSON (a truncated export).
head -c 300 "$NS/directory.good" > "$USHER_DIRECTORY"
usherd_once
expect_one_line_failure "broken JSON" "^error: .*$USHER_DIRECTORY.*JSON"
cache_untouched "broken JSON"
LOGGED=$(grep -c "usherd.*$USHER_DIRECTORY.*JSON" "$USHER_NS_LOG" || true)
assert_eq 1 "$LOGGED" "the failure is in syslog once"

# Not an object / "Users" not a list.
echo '[1, 2, 3]' > "$USHER_DIRECTORY"
usherd_once
expect_one_line_failure "a JSON list" "^error: .*$USHER_DIRECTORY"
cache_untouched "a JSON list"
echo '{"Users": {"alice": 1}, "Groups": []}' > "$USHER_DIRECTORY"
usherd_once
expect_one_line_failure "Users not a list" "^error: .*Users"
cache_untouched "Users not a list"

# The export is missing.
rm -f "$USHER_DIRECTORY"
usherd_once
expect_one_line_failure "missing export" "^error: .*$USHER_DIRECTORY"
cache_untouched "missing export"

# A config with an unknown key; a missing config.
cp "$NS/directory.good" "$USHER_DIRECTORY"
usher_write_config "$USHER_DIRECTORY" "$NS/typo.toml" $'[ids]\nmin_uid = 1000\nmn_gid = 5\n'
run "$USHERD" --config "$NS/typo.toml" --once
expect_one_line_failure "unknown config key" "^error: .*typo.toml.*mn_gid"
cache_untouched "unknown config key"
run "$USHERD" --config "$NS/nonexistent.toml" --once
expect_one_line_failure "missing config" "^error: .*nonexistent.toml"
cache_untouched "missing config"

# The good export again: published (a new generation is not needed: nothing changed).
usher_sync
cache_untouched "good export after failures"
