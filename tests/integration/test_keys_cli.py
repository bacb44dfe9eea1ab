"""vaultctl key: list, rotate, rewrap and retire the KEKs, through the real
vaultctl against the real vaultd (and, for hostile answers, a scripted
one). What a user sees: the table, the messages, exit codes, --json, the
progress of a rewrap, Ctrl-C, and that every record still reads back."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import NOBODY, VAULTCTL, Client, Vault, audit_lines
from test_cli import complete, json_error, run, run_on_terminal, wait_for
from test_vaultctl_hostile import HOSTILE, SHOWN, assert_no_controls, scripted  # noqa: F401 (fixture)

SERVICE, AUDITOR = NOBODY, 4242
POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections c
allow user %d role auditor
""" % (SERVICE, AUDITOR)

HEADING = ["VERSION", "CURRENT", "CREATED", "DATA KEYS"]
# CREATED in local time, as "2026-11-30 01:15:52 CET".
LOCAL_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+"
RESUME = "run 'vaultctl key rewrap' again to go on: vaultd remembers where it stopped"


def keys(vault):
    """{version: (current, data_keys)} from key list --json."""
    listed = vault.ctl("key", "list", json_out=True, check=True).json["keys"]
    return {k["version"]: (k["current"], k["data_keys"]) for k in listed}


def table(text):
    """key list's rows as {VERSION: {column: cell}}, cut at the heading's
    columns: numbers must end where their heading ends, the rest start where
    theirs starts. Fails when a cell strays across a column."""
    lines = text.splitlines()
    starts = [lines[0].index(h) for h in HEADING]
    ends = [s + len(h) for s, h in zip(starts, HEADING)]
    rows = {}
    for line in lines[1:]:
        assert len(line) == ends[3], text  # DATA KEYS right-aligned: every row ends with it
        cells = [line[:ends[0]], line[starts[1]:starts[2]], line[starts[2]:starts[3]], line[starts[3]:]]
        assert cells[0].strip().isdigit() and line[ends[0] - 1] != " ", text
        assert cells[3].strip().isdigit() and line[starts[3] - 1] == " ", text
        assert cells[1].rstrip() in ("", "*") and not line[ends[0]:starts[1]].strip(), text
        assert not cells[2].startswith(" ") and not line[starts[2] - 1].strip(), text
        rows[int(cells[0])] = dict(zip(HEADING, (c.strip() for c in cells)))
    return rows


def put(vault, rid, body):
    vault.ctl("put", "c", rid, "-", input=body, check=True)


def import_records(vault, collection, n):
    data = "".join(json.dumps({"id": "I-%d" % i, "record": {"i": i}}) + "\n" for i in range(n))
    r = vault.ctl("import", collection, "-", input=data)
    assert r.returncode == 0, r.stderr


def test_rotate_makes_a_new_version_current(vault):
    rows = table(vault.ctl("key", "list", check=True).stdout_text)
    assert rows == {1: {"VERSION": "1", "CURRENT": "*", "CREATED": "with the vault", "DATA KEYS": "0"}}
    r = vault.ctl("key", "rotate")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout_text == ("KEK version 2 is now current (was 1); run 'vaultctl key rewrap' to move old "
                             "data keys to it\n")
    text = vault.ctl("key", "list", check=True).stdout_text
    heading = text.splitlines()[0]
    assert heading.startswith("VERSION  CURRENT  CREATED  ") and heading.endswith("  DATA KEYS"), text
    rows = table(text)
    assert sorted(rows) == [1, 2]
    assert rows[1]["CURRENT"] == "" and rows[1]["CREATED"] == "with the vault"
    assert rows[2]["CURRENT"] == "*" and re.fullmatch(LOCAL_TIME, rows[2]["CREATED"]), text
    # New data keys go under the new version at once.
    put(vault, "R-1", b"after the rotation")
    assert keys(vault) == {1: (False, 0), 2: (True, 1)}


def test_rewrap_moves_every_data_key_and_every_record_reads_back(vault):
    bodies = {}
    for i in range(7):  # under KEK 1, one with two versions, one deleted
        bodies[("B-%d" % i, 1)] = b"before %d \x00\xff" % i + os.urandom(i * 300)
        put(vault, "B-%d" % i, bodies[("B-%d" % i, 1)])
    bodies[("B-0", 2)] = b"second version of B-0"
    put(vault, "B-0", bodies[("B-0", 2)])
    vault.ctl("delete", "c", "B-6", check=True)
    vault.ctl("key", "rotate", check=True)
    for i in range(3):  # under KEK 2
        bodies[("A-%d" % i, 1)] = b"after %d" % i
        put(vault, "A-%d" % i, bodies[("A-%d" % i, 1)])
    assert keys(vault) == {1: (False, 8), 2: (True, 3)}
    r = vault.ctl("key", "rewrap", "--batch", "3")
    assert r.returncode == 0 and r.stdout_text == "8 data keys re-wrapped under KEK version 2\n", r.stderr
    assert keys(vault) == {1: (False, 0), 2: (True, 11)}
    r = vault.ctl("key", "retire", "1")
    assert r.returncode == 0 and r.stdout_text == "KEK version 1 retired: vaultd destroyed it\n"
    assert keys(vault) == {2: (True, 11)}
    # With KEK 1 gone, every version still reads back, byte for byte.
    for (rid, version), body in bodies.items():
        r = vault.ctl("get", "c", rid, "--version", str(version))
        assert r.returncode == 0 and r.stdout == body, (rid, version, r.stderr)


def test_retire_refuses_a_key_in_use_and_says_why(vault):
    r = vault.ctl("key", "retire", "1")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == "vaultctl: cannot retire KEK version 1: it is the current KEK: rotate first\n"
    put(vault, "K-1", b"wrapped by KEK 1")
    vault.ctl("key", "rotate", check=True)
    r = vault.ctl("key", "retire", "1")
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == ("vaultctl: cannot retire KEK version 1: it still wraps data keys: run 'vaultctl key "
                        "rewrap' first (1 data key)\n")
    obj = json_error(vault.ctl("key", "retire", "1", json_out=True), "io.vaultd.admin.KeyInUse", 1)
    assert obj["parameters"] == {"version": 1, "data_keys": 1,
                                 "reason": "it still wraps data keys: run 'vaultctl key rewrap' first"}
    obj = json_error(vault.ctl("key", "retire", "2", json_out=True), "io.vaultd.admin.KeyInUse", 1)
    assert obj["parameters"]["reason"] == "it is the current KEK: rotate first"
    # Nothing was destroyed, and the record reads back.
    assert keys(vault) == {1: (False, 1), 2: (True, 0)}
    assert vault.ctl("get", "c", "K-1").stdout == b"wrapped by KEK 1"
    r = vault.ctl("key", "retire", "9")
    assert r.returncode == 1 and "InvalidParameter" in r.stderr and "no such KEK version" in r.stderr


@pytest.fixture
def roles_vault(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    yield v
    assert v.stop() == 0


@pytest.mark.parametrize("args", [["key", "list"], ["key", "rotate"], ["key", "rewrap"],
                                  ["key", "retire", "1"]], ids=lambda a: a[1])
def test_service_and_auditor_are_denied(roles_vault, args):
    for uid in (SERVICE, AUDITOR):
        r = roles_vault.ctl(*args, uid=uid)
        assert r.returncode == 5 and r.stdout == b"", (uid, r.stderr)
        assert r.stderr.startswith("vaultctl: AccessDenied: method=io.vaultd.admin."), r.stderr
        json_error(roles_vault.ctl(*args, uid=uid, json_out=True), "io.vaultd.admin.AccessDenied", 5)
    assert keys(roles_vault) == {1: (True, 0)}  # nothing rotated, nothing retired


def test_json_outputs_parse(vault):
    put(vault, "J-1", b"x")
    r = vault.ctl("key", "rotate", json_out=True)
    assert r.returncode == 0 and r.stderr == "" and r.json == {"version": 2, "previous": 1}
    r = vault.ctl("key", "list", json_out=True)
    assert r.returncode == 0 and r.stderr == ""
    assert [(k["version"], k["current"], k["data_keys"]) for k in r.json["keys"]] == [(1, False, 1),
                                                                                      (2, True, 0)]
    assert r.json["keys"][0]["created"] is None and r.json["keys"][1]["created"].endswith("Z")
    r = vault.ctl("key", "rewrap", json_out=True)
    assert r.returncode == 0 and r.stderr == ""  # one object, no progress lines
    assert r.json == {"rewrapped": 1, "scanned": 1, "calls": 1, "done": True, "version": 2}
    r = vault.ctl("key", "retire", "1", json_out=True)
    assert r.returncode == 0 and r.stderr == "" and r.json == {"version": 1}


def test_rewrap_prints_a_line_per_call_when_not_on_a_terminal(vault):
    import_records(vault, "c", 5)
    vault.ctl("key", "rotate", check=True)
    r = vault.ctl("key", "rewrap", "--batch", "2")
    assert r.returncode == 0 and r.stdout_text == "5 data keys re-wrapped under KEK version 2\n"
    assert r.stderr.splitlines() == ["rewrap: 2 of 5 data keys re-wrapped", "rewrap: 4 of 5 data keys re-wrapped",
                                     "rewrap: 5 of 5 data keys re-wrapped"]
    assert "\r" not in r.stderr and "\x1b" not in r.stderr


def test_rewrap_with_nothing_to_do_finishes_at_once(vault):
    import_records(vault, "c", 20)
    r = vault.ctl("key", "rewrap", "--batch", "1")
    assert r.returncode == 0 and r.stdout_text == "0 data keys re-wrapped under KEK version 1\n"
    assert r.stderr == "rewrap: 0 of 0 data keys re-wrapped\n"  # one call
    r = vault.ctl("key", "rewrap", "--batch", "1", json_out=True)
    assert r.json == {"rewrapped": 0, "scanned": 20, "calls": 1, "done": True, "version": 1}
    assert [e["op"] for e in audit_lines(vault.export())].count("admin.rewrap") == 2


def test_rewrap_shows_progress_on_a_terminal(vault):
    # Enough one-key calls to last beyond the first redraw (a quarter second).
    import_records(vault, "p", 3000)
    vault.ctl("key", "rotate", check=True)
    cmd = [VAULTCTL, "--socket", vault.sock, "key", "rewrap", "--batch", "1"]
    rc, shown, out = run_on_terminal(cmd, "stderr")
    assert rc == 0 and out == b"3000 data keys re-wrapped under KEK version 2\n"
    progress = shown.decode()
    assert re.search(r"\r\x1b\[Krewrapping: \d+ data keys, \d+ data keys/s, \d+%, ETA \d+:\d\d", progress), \
        progress
    assert progress.endswith("\r\x1b[K") and "rewrap: " not in progress  # erased; no plain lines


def test_rewrap_ctrl_c_stops_after_the_call_in_flight_and_resumes(vault):
    import_records(vault, "c", 2000)
    vault.ctl("key", "rotate", check=True)
    p = subprocess.Popen([VAULTCTL, "--socket", vault.sock, "key", "rewrap", "--batch", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stderr.readline().decode()
    assert first == "rewrap: 1 of 2000 data keys re-wrapped\n", first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    last = err.decode().splitlines()[-1]
    m = re.fullmatch(r"vaultctl: interrupted; (\d+) data keys? re-wrapped under KEK version 2; "
                     + re.escape(RESUME), last)
    assert p.returncode == 1 and out == b"" and m, err
    done = int(m.group(1))
    assert 1 <= done < 2000
    # What it said is what vaultd did: the call in flight finished, no other.
    assert keys(vault)[1] == (False, 2000 - done)
    # Run again, it goes on where it stopped: it scans only what is left.
    r = vault.ctl("key", "rewrap", json_out=True)
    assert r.returncode == 0 and r.json["rewrapped"] == 2000 - done and r.json["scanned"] == 2000 - done
    assert keys(vault) == {1: (False, 0), 2: (True, 2000)}


def test_rewrap_interrupted_under_json_is_one_object(vault):
    import_records(vault, "c", 2000)
    vault.ctl("key", "rotate", check=True)
    p = subprocess.Popen([VAULTCTL, "--json", "--socket", vault.sock, "key", "rewrap", "--batch", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # No lines under --json: wait until vaultd has re-wrapped some.
    wait_for(lambda: keys(vault)[1][1] < 2000)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    obj = json.loads(out)
    assert p.returncode == 1 and err == b"" and obj["error"] == "vaultctl.Interrupted", (out, err)
    assert obj["rewrap"]["done"] is False and obj["rewrap"]["version"] == 2 and RESUME in obj["message"]
    assert keys(vault)[1] == (False, 2000 - obj["rewrap"]["rewrapped"])


# A vaultd that is not what it should be.

def test_strings_from_a_hostile_server_are_escaped(scripted):
    def answer(method, params):
        if method == "io.vaultd.admin.ListKeys":
            return {"parameters": {"keys": [{"version": 1, "current": True, "created": HOSTILE,
                                             "data_keys": 0}]}}
        return {"error": "io.vaultd.admin.KeyInUse",
                "parameters": {"version": 1, "data_keys": 3, "reason": HOSTILE}}
    s = scripted(answer)
    r = subprocess.run([VAULTCTL, "--socket", s.path, "key", "list"], capture_output=True, timeout=30)
    assert r.returncode == 0 and SHOWN in r.stdout.decode()
    assert_no_controls(r.stdout, r.stderr)
    r = subprocess.run([VAULTCTL, "--socket", s.path, "key", "retire", "1"], capture_output=True, timeout=30)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == "vaultctl: cannot retire KEK version 1: %s (3 data keys)\n" % SHOWN
    assert_no_controls(r.stdout, r.stderr)
    # Under --json the reason is exact, escaped by JSON only.
    r = subprocess.run([VAULTCTL, "--json", "--socket", s.path, "key", "retire", "1"], capture_output=True,
                       timeout=30)
    assert r.returncode == 1 and json.loads(r.stdout)["parameters"]["reason"] == HOSTILE


def test_rewrap_that_does_not_advance_is_refused(scripted):
    def answer(method, params):
        if method == "io.vaultd.admin.ListKeys":
            return {"parameters": {"keys": [{"version": 1, "current": False, "created": None, "data_keys": 5},
                                            {"version": 2, "current": True, "created": None, "data_keys": 0}]}}
        return {"parameters": {"rewrapped": 0, "scanned": 0, "done": False, "version": 2}}
    s = scripted(answer)
    r = subprocess.run([VAULTCTL, "--socket", s.path, "key", "rewrap"], capture_output=True, timeout=10)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode().startswith("vaultctl: vaultd's Rewrap neither finished nor scanned anything")
    assert s.calls == 2  # ListKeys, then one Rewrap


# The command line.

@pytest.mark.parametrize("args,named", [
    (["key"], "missing command (one of: list, rotate, rewrap, retire)"),
    (["key", "rewrap", "--batch", "0"], "--batch must be from 1 to 10000, not '0'"),
    (["key", "rewrap", "--batch", "10001"], "--batch must be a whole number from 0 to 10000"),
    (["key", "rewrap", "--batch"], "option '--batch' needs a value"),
    (["key", "retire"], "missing arguments; usage: vaultctl key retire VERSION"),
    (["key", "retire", "one"], "VERSION must be a whole number"),
    (["key", "list", "extra"], "unexpected argument 'extra'"),
])
def test_usage_errors(args, named):
    r = run(*args)
    assert r.returncode == 2 and r.out == ""
    assert r.err.startswith("vaultctl: " + named), r.err
    assert r.err.splitlines()[-1] == "Try 'vaultctl %s --help'." % " ".join(args[:2])


def test_key_help_lists_its_commands():
    r = run("key", "--help")
    assert r.returncode == 0 and r.out.startswith("usage: vaultctl key COMMAND")
    for sub in ("list", "rotate", "rewrap", "retire"):
        assert re.search(r"^  key %s\s" % sub, r.out, re.M), sub
    assert "--batch N" in run("key", "rewrap", "--help").out


def test_bash_completion_knows_the_key_commands():
    assert "key" in complete("")
    assert complete("key", "") == ["list", "retire", "rewrap", "rotate"]
    assert complete("key", "re") == ["retire", "rewrap"]
    assert complete("key", "rewrap", "--b") == ["--batch"]
    assert complete("key", "rewrap", "--batch", "") == []
    assert complete("key", "list", "--b") == []




def test_rotation_stops_at_version_255_and_says_so(vault_dir):
    v = Vault(vault_dir)
    v.start()
    try:
        c = Client(v.sock)
        for version in range(2, 256):
            r = c.call("io.vaultd.admin.RotateKey")
            assert r.get("parameters", {}).get("version") == version, r
        r = c.call("io.vaultd.admin.RotateKey")
        assert r["error"] == "io.vaultd.admin.InvalidParameter", r
        assert r["parameters"]["parameter"] == "version"
        assert "255 KEK versions" in r["parameters"]["reason"]
        c.close()
        assert keys(v)[255] == (True, 0)
    finally:
        v.stop()
