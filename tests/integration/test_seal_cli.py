"""vaultctl unseal and seal through the real vaultctl against the real
vaultd (and, for hostile answers, a scripted one): a vault whose root key
file is sealed by a passphrase, as an admin meets it. What a user sees: the
messages, exit codes and --json; the prompt on a terminal that does not
echo; the new key file, mode 0600, that opens the vault after a restart;
and that no passphrase shows up in vaultctl's output, vaultd's log or the
audit trail."""
import fcntl
import json
import os
import pty
import re
import select
import subprocess
import termios
import time

import pytest

from conftest import VAULTCTL, Vault, audit_lines
from test_cli import complete, json_error, run
from test_keys_cli import AUDITOR, POLICY, SERVICE
from test_vaultctl_hostile import HOSTILE, SHOWN, assert_no_controls, scripted, shared_dir  # noqa: F401

PASS = "đường dây nóng 1900 — một câu dài"
NEW_PASS = "mật khẩu mới của quản trị viên"
WRONG = "không phải mật khẩu"

SEALED_HINT = "vaultctl: Sealed (the vault is sealed: an admin must run 'vaultctl unseal')\n"
SEALED_STATE = ("state:        sealed\n"
                "              records answer Sealed until an admin runs 'vaultctl unseal'\n")
WRONG_MESSAGE = r"vaultctl: wrong passphrase; the next attempt is accepted in (\d+) s\n"
TOO_SOON = r"vaultctl: too soon after a wrong passphrase: try again in (\d+) s\n"
UNSEAL_PROMPT = b"Passphrase to unseal vaultd: "


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def sealed_vault(vault_dir, policy=None):
    """A vault whose key file is sealed by PASS, started (sealed), with the
    passphrase files it and the tests use."""
    files = {name: write_file(os.path.join(vault_dir, name + ".pass"), text + "\n")
             for name, text in (("old", PASS), ("new", NEW_PASS), ("wrong", WRONG))}
    kw = {"policy": policy} if policy else {}
    v = Vault(vault_dir, key_args=["--passphrase-file", files["old"]], **kw)
    v.files = files
    v.start()
    return v


@pytest.fixture
def sealed(vault_dir):
    v = sealed_vault(vault_dir)
    yield v
    assert v.stop() in (0, None), v.read_log()


def unseal(vault, name="old", **kw):
    return vault.ctl("unseal", "--passphrase-file", vault.files[name], **kw)


def unseal_when_allowed(vault, name):
    """Unseals with the passphrase file name once vaultd takes an attempt
    again (after a wrong one), polling with a deadline."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = unseal(vault, name, json_out=True)
        if r.returncode != 1 or json.loads(r.stdout)["error"] != "io.vaultd.admin.TryLater":
            return r
        time.sleep(0.1)
    raise AssertionError("vaultd still says TryLater after 30 s")


def state(vault):
    return vault.ctl("status", json_out=True, check=True).json["state"]


def ops(vault, prefix="admin."):
    return [e["op"] for e in audit_lines(vault.export()) if e["op"].startswith(prefix)]


def on_terminal(args, answers, timeout=60):
    """Runs vaultctl on a terminal of its own, its controlling terminal as at
    a console, and types each answer after its prompt once the terminal no
    longer echoes. Returns (exit code, all the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([VAULTCTL] + args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    shown, deadline = b"", time.monotonic() + timeout

    def read_some():
        nonlocal shown
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal is closed
                return False
            shown += chunk
            return bool(chunk)
        return p.poll() is None

    try:
        seen = 0  # where the next prompt is looked for
        for prompt, answer in answers:
            while prompt not in shown[seen:]:
                assert time.monotonic() < deadline and read_some(), shown
            seen = shown.index(prompt, seen) + len(prompt)
            # Typed before echo is off, it would show (and be flushed).
            while termios.tcgetattr(slave)[3] & termios.ECHO:
                assert time.monotonic() < deadline and p.poll() is None, shown
                time.sleep(0.01)
            os.write(master, answer.encode() + b"\n")
        os.close(slave)
        slave = -1
        while time.monotonic() < deadline and read_some():
            pass
        return p.wait(timeout=timeout), shown
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()


# unseal

def test_unseal_from_a_file_then_records_work(sealed):
    r = sealed.ctl("status")
    assert r.returncode == 0 and r.stdout_text.startswith(SEALED_STATE), r.stdout_text
    r = sealed.ctl("put", "c", "U-1", "-", input=b"x")
    assert r.returncode == 1 and r.stdout == b"" and r.stderr == SEALED_HINT
    r = unseal(sealed)
    assert r.returncode == 0 and r.stdout_text == "vault unsealed: serving\n" and r.stderr == ""
    assert state(sealed) == "serving"
    assert sealed.ctl("status").stdout_text.splitlines()[0] == "state:        serving"
    sealed.ctl("put", "c", "U-1", "-", input="Nguyễn Văn An", check=True)
    assert sealed.ctl("get", "c", "U-1").stdout == "Nguyễn Văn An".encode()
    # Not sealed: nothing to do, no passphrase read, nothing sent.
    r = sealed.ctl("unseal", "--passphrase-file", "/nonexistent")
    assert r.returncode == 0 and r.stdout_text == "vault is not sealed: serving\n" and r.stderr == ""
    assert ops(sealed) == ["admin.unseal"]


def test_unseal_reads_standard_input_with_a_dash(sealed):
    r = sealed.ctl("unseal", "--passphrase-file", "-", input=PASS + "\n")
    assert r.returncode == 0 and r.stdout_text == "vault unsealed: serving\n", r.stderr
    assert state(sealed) == "serving"


def test_wrong_passphrase_says_when_to_retry_and_too_soon_is_refused(sealed):
    r = unseal(sealed, "wrong")
    assert r.returncode == 1 and r.stdout == b""
    assert re.fullmatch(WRONG_MESSAGE, r.stderr) and re.fullmatch(WRONG_MESSAGE, r.stderr).group(1) == "1", \
        r.stderr
    # At once, even with the right one: too soon.
    r = unseal(sealed)
    assert r.returncode == 1 and r.stdout == b"" and re.fullmatch(TOO_SOON, r.stderr), r.stderr
    assert int(re.fullmatch(TOO_SOON, r.stderr).group(1)) >= 1
    obj = json_error(unseal(sealed, json_out=True), "io.vaultd.admin.TryLater", 1)
    assert obj["parameters"]["retry_after"] >= 1
    assert obj["message"] == "too soon after a wrong passphrase: try again in %d s" % obj["parameters"][
        "retry_after"]
    # The second failure in a row doubles the wait.
    r = unseal_when_allowed(sealed, "wrong")
    obj = json_error(r, "io.vaultd.admin.WrongPassphrase", 1)
    assert obj["parameters"] == {"retry_after": 2}
    assert obj["message"] == "wrong passphrase; the next attempt is accepted in 2 s"
    assert state(sealed) == "sealed"
    r = unseal_when_allowed(sealed, "old")
    assert r.returncode == 0 and r.json == {"state": "serving"}, r.stdout
    assert state(sealed) == "serving"


def test_unseal_on_a_terminal_asks_without_echo(sealed):
    rc, shown = on_terminal(["--socket", sealed.sock, "unseal"], [(UNSEAL_PROMPT, PASS)])
    assert rc == 0, shown
    assert shown.startswith(UNSEAL_PROMPT) and b"vault unsealed: serving" in shown, shown
    assert PASS.encode() not in shown
    assert state(sealed) == "serving"


def test_unseal_without_a_terminal_or_file_asks_for_one(sealed):
    # A session without a controlling terminal, as under cron or ssh -T.
    r = subprocess.run([VAULTCTL, "--socket", sealed.sock, "unseal"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, start_new_session=True, timeout=30)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("vaultctl: no terminal to ask the passphrase on: give --passphrase-file FILE "
                        "('-' for standard input)\nTry 'vaultctl unseal --help'.\n")
    r = sealed.ctl("unseal", "--passphrase-file", os.path.join(sealed.root, "missing"))
    assert r.returncode == 1 and "cannot read the passphrase from" in r.stderr and "No such file" in r.stderr
    empty = write_file(os.path.join(sealed.root, "empty"), "\nsecond line\n")
    r = sealed.ctl("unseal", "--passphrase-file", empty)
    assert r.returncode == 1 and r.stderr == "vaultctl: %s: its first line is empty; the passphrase is the " \
        "first line of the file\n" % empty
    assert state(sealed) == "sealed"
    unseal(sealed, check=True)  # (vaultd exports its trail only unsealed)
    assert ops(sealed) == ["admin.unseal"]  # nothing was sent before


# seal

def test_seal_then_records_answer_sealed_with_the_hint(sealed):
    unseal(sealed, check=True)
    sealed.ctl("put", "c", "S-1", "-", input=b"allowance 1,500,000 VND", check=True)
    r = sealed.ctl("seal")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout_text == "vault sealed: records answer Sealed until 'vaultctl unseal'\n"
    for args in (["get", "c", "S-1"], ["list", "c"], ["history", "c", "S-1"], ["delete", "c", "S-1"]):
        r = sealed.ctl(*args)
        assert r.returncode == 1 and r.stdout == b"" and r.stderr == SEALED_HINT, (args, r.stderr)
    obj = json_error(sealed.ctl("get", "c", "S-1", json_out=True), "io.vaultd.records.Sealed", 1)
    assert obj["message"] == "Sealed (the vault is sealed: an admin must run 'vaultctl unseal')"
    r = sealed.ctl("status")
    assert r.returncode == 0 and r.stdout_text.startswith(SEALED_STATE), r.stdout_text
    assert state(sealed) == "sealed"
    # Sealing again is no error; the trail stays readable and verifies.
    r = sealed.ctl("seal", json_out=True)
    assert r.returncode == 0 and r.json == {"state": "sealed"} and r.stderr == ""
    assert sealed.ctl("audit", "verify").returncode == 0
    unseal(sealed, check=True)
    assert sealed.ctl("get", "c", "S-1").stdout == b"allowance 1,500,000 VND"


def test_seal_of_a_plain_key_vault_is_refused_with_the_reason(vault):
    r = vault.ctl("seal")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.startswith("vaultctl: cannot seal: the root key file is not sealed by a passphrase"), \
        r.stderr
    assert len(r.stderr.splitlines()) == 1
    obj = json_error(vault.ctl("seal", json_out=True), "io.vaultd.admin.InvalidParameter", 1)
    assert obj["parameters"]["parameter"] == "key"
    assert obj["message"] == "cannot seal: " + obj["parameters"]["reason"]
    assert state(vault) == "serving"
    vault.ctl("put", "c", "P-1", "-", input=b"still served", check=True)


def test_refusal_reasons_from_a_hostile_server_are_escaped(scripted):
    s = scripted(lambda method, params: {"error": "io.vaultd.admin.InvalidParameter",
                                         "parameters": {"parameter": "key", "reason": HOSTILE}})
    r = subprocess.run([VAULTCTL, "--socket", s.path, "seal"], capture_output=True, timeout=30)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == "vaultctl: cannot seal: %s\n" % SHOWN
    assert_no_controls(r.stdout, r.stderr)
    r = subprocess.run([VAULTCTL, "--json", "--socket", s.path, "seal"], capture_output=True, timeout=30)
    assert r.returncode == 1 and json.loads(r.stdout)["parameters"]["reason"] == HOSTILE



# Roles, --json, and the passphrase nowhere.

@pytest.fixture
def roles_vault(vault_dir):
    v = sealed_vault(vault_dir, policy=POLICY)
    yield v
    assert v.stop() == 0


def test_service_and_auditor_are_denied(roles_vault):
    v = roles_vault
    for uid in (SERVICE, AUDITOR):
        for args in (["unseal", "--passphrase-file", v.files["old"]], ["seal"]):
            r = v.ctl(*args, uid=uid)
            assert r.returncode == 5 and r.stdout == b"", (uid, args, r.stderr)
            assert r.stderr.startswith("vaultctl: AccessDenied: method=io.vaultd.admin."), r.stderr
            json_error(v.ctl(*args, uid=uid, json_out=True), "io.vaultd.admin.AccessDenied", 5)
    assert state(v) == "sealed"
    unseal(v, check=True)
    assert v.ctl("seal", uid=SERVICE).returncode == 5 and state(v) == "serving"
    denied = [e for e in audit_lines(v.export()) if e.get("error") == "AccessDenied"]
    assert {e["op"] for e in denied} == {"admin.unseal", "admin.seal"}


def test_json_outputs_parse(sealed):
    r = unseal(sealed, json_out=True)
    assert r.returncode == 0 and r.stderr == "" and r.json == {"state": "serving"}
    r = unseal(sealed, json_out=True)  # not sealed: the same answer
    assert r.returncode == 0 and r.json == {"state": "serving"}
    r = sealed.ctl("seal", json_out=True)
    assert r.returncode == 0 and r.stderr == "" and r.json == {"state": "sealed"}
    json_error(run("seal", "--force", "--json"), "vaultctl.UsageError", 2)


def test_no_passphrase_in_output_log_or_audit_trail(sealed):
    results = [unseal(sealed, "wrong"), unseal(sealed, "wrong", json_out=True), unseal_when_allowed(sealed, "old")]
    results += [sealed.ctl("seal"), sealed.ctl("status")]
    assert results[-2].returncode == 0 and results[-1].returncode == 0
    rc, shown = on_terminal(["--socket", sealed.sock, "unseal"], [(UNSEAL_PROMPT, PASS)])
    assert rc == 0, shown
    assert ops(sealed)[-2:] == ["admin.seal", "admin.unseal"]
    everything = b"".join(r.stdout + r.stderr.encode() for r in results) + shown + sealed.export() + \
        sealed.read_log().encode()
    for secret in (PASS, NEW_PASS, WRONG):
        assert secret.encode() not in everything, secret
        assert json.dumps(secret).encode() not in everything, secret  # nor JSON-escaped


# The command line.

@pytest.mark.parametrize("args,named", [
    (["unseal", "extra"], "unexpected argument 'extra'"),
    (["unseal", "--passphrase-file"], "option '--passphrase-file' needs a value"),
    (["seal", "--force"], "unknown option '--force'"),
])
def test_usage_errors(args, named):
    r = run(*args)
    assert r.returncode == 2 and r.out == ""
    assert r.err.startswith("vaultctl: " + named), r.err
    assert r.err.splitlines()[-1] == "Try 'vaultctl %s --help'." % args[0]


def test_help_names_the_options():
    assert "--passphrase-file FILE" in run("unseal", "--help").out


def test_bash_completion_knows_the_seal_commands():
    assert {"unseal", "seal"} <= set(complete(""))
    assert complete("uns") == ["unseal"]
    assert complete("unseal", "--p") == ["--passphrase-file"]
    assert "Makefile" in complete("unseal", "--passphrase-file", "Makef")
    assert complete("seal", "--p") == []
