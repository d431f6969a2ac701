"""The harness's own checks must be able to fail: the token-leak check finds a leak, and the
namespace is private (nothing here may touch the machine's /etc or /var/lib/usher)."""
import usher_e2e as e2e


def test_the_leak_check_finds_a_leaked_token(host):
    host.outputs.append(f"something {e2e.TOKEN} something")
    assert host.check_no_secret_leaked() == [f"usherctl output: {e2e.TOKEN[:12]}…"]
    host.outputs.clear()
    out = host.work / "fake-usherd.log"
    out.write_text(f"Authorization: Bearer {e2e.TOKEN}\n")
    fake = e2e.Daemon.__new__(e2e.Daemon)
    fake.out_path, fake.waited = out, True
    host.daemons.append(fake)
    assert host.check_no_secret_leaked() == [f"{out}: {e2e.TOKEN[:12]}…"]
    host.daemons.remove(fake)
    assert host.check_no_secret_leaked() == []


def test_the_namespace_is_private():
    assert e2e.in_private_namespace()
    assert e2e.mounted("/dev", "overlay")
    with open("/etc/nsswitch.conf", encoding="utf-8") as f:
        assert any(line.split() == ["passwd:", "files", "usher"] for line in f)
