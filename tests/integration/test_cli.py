"""vaultctl's command line as a person or a script meets it (issue #6 §3,
issue #7): GNU options anywhere, help, exit codes, errors under --json,
human output, bulk import, timeouts, man pages and bash completion. Each
test runs the real vaultctl, against the real vaultd where it needs one."""
import base64
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, NOBODY, REPO, VAULTCTL, VAULTD, Client, Vault, audit_lines, small_disk

MAKEFILE_VERSION = re.search(r"^VERSION\s*:=\s*(\S+)", open(os.path.join(REPO, "Makefile")).read(),
                             re.M).group(1)
COMPLETION = os.path.join(REPO, "packaging", "bash-completion", "vaultctl")

# Every command, and what its --help must say it needs.
COMMANDS = [
    (["status"], "any user the policy knows"), (["put"], "service role"),
    (["get"], "service role"), (["delete"], "service role"), (["list"], "service role"),
    (["history"], "service role"), (["import"], "service role"), (["audit", "head"], "auditor"),
    (["audit", "export"], "auditor"), (["audit", "report"], "auditor"), (["audit", "verify"], "auditor"),
    (["audit", "prove"], "auditor"), (["audit", "consistency"], "auditor"),
    (["audit", "witness-request"], "the cosigner, auditor or admin role"),
    (["policy", "check"], "nothing"), (["policy", "reload"], "admin role"),
    (["key", "list"], "admin role"), (["key", "rotate"], "admin role"), (["key", "rewrap"], "admin role"),
    (["key", "retire"], "admin role"), (["unseal"], "admin role"), (["seal"], "admin role"),
    (["backup"], "admin role"), (["backup", "verify"], "nothing"),
]


def run(*args, input=None, env=None, timeout=60):
    """vaultctl with exactly these arguments (no --socket added)."""
    e = dict(os.environ)
    e.pop("VAULTD_SOCKET", None)
    e.update(env or {})
    if isinstance(input, str):
        input = input.encode()
    r = subprocess.run([VAULTCTL] + list(args), input=input, capture_output=True, env=e,
                       timeout=timeout)
    r.out = r.stdout.decode(errors="replace")
    r.err = r.stderr.decode(errors="replace")
    return r


def texts(r):
    """stdout and stderr as text, of run() or of Vault.ctl()."""
    return (r.stdout_text, r.stderr) if hasattr(r, "stdout_text") else (r.out, r.err)


def json_error(r, name, code):
    """Checks a failure under --json: exactly one object on stdout, nothing
    on stderr, the error name and the exit code. Returns the object."""
    out, err = texts(r)
    assert r.returncode == code, (r.returncode, out, err)
    assert err == "", err
    obj = json.loads(out)  # one object, nothing else
    assert obj["error"] == name and isinstance(obj["parameters"], dict) and obj["message"], obj
    return obj


def run_on_terminal(cmd, stream, input=None, timeout=60):
    """Runs cmd with stdout or stderr (stream) on a pseudo-terminal; returns
    (exit code, what the terminal showed, the other stream)."""
    master, slave = pty.openpty()
    kw = {"stdout": slave, "stderr": subprocess.PIPE} if stream == "stdout" else \
         {"stderr": slave, "stdout": subprocess.PIPE}
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if input else subprocess.DEVNULL, **kw)
    os.close(slave)
    if input:
        p.stdin.write(input)
        p.stdin.close()
    other = p.stderr if stream == "stdout" else p.stdout
    shown, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            shown += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    rc = p.wait(timeout=timeout)
    return rc, shown, other.read()


class FakeServer:
    """A Unix socket that plays a broken or slow vaultd: "silent" accepts
    and never answers, "close" hangs up at once, "slow" answers a Status
    after `delay` seconds, "backlog" never accepts and keeps its one
    backlog slot taken."""

    def __init__(self, path, mode, delay=0.0):
        self.path, self.mode, self.delay = path, mode, delay
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.held = []
        if mode == "backlog":
            self.sock.listen(0)
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.connect(path)
            self.held.append(filler)
            return
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.held.append(conn)
        if self.mode == "close":
            conn.close()
        elif self.mode == "slow":
            buf = b""
            while b"\0" not in buf:
                buf += conn.recv(4096)
            time.sleep(self.delay)
            try:
                conn.sendall(json.dumps({"parameters": {"state": "serving"}}).encode() + b"\0")
            except OSError:
                pass  # the client gave up first, as it should

    def close(self):
        for s in self.held:
            s.close()
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def fake(vault_dir):
    servers = []

    def make(mode, delay=0.0):
        s = FakeServer(os.path.join(vault_dir, "fake-%d.sock" % len(servers)), mode, delay)
        servers.append(s)
        return s.path
    yield make
    for s in servers:
        s.close()


# 1. Options anywhere, GNU style.

def test_global_options_before_or_after_the_command(vault):
    sock = vault.sock
    for args in (["status", "--json", "--socket", sock], ["--socket=" + sock, "--json", "status"],
                 ["--json", "--socket", sock, "status"], ["status", "--socket=" + sock, "--json"],
                 ["--timeout", "5", "status", "--json", "--socket", sock]):
        r = run(*args)
        assert r.returncode == 0, (args, r.err)
        assert json.loads(r.out)["state"] == "serving", args
    r = run("status", "--socket", sock)
    assert r.returncode == 0 and "state:        serving" in r.out
    r = run("status", env={"VAULTD_SOCKET": sock})
    assert r.returncode == 0 and "serving" in r.out


def test_command_options_after_arguments(vault):
    s = vault.sock
    assert run("put", "c", "A-1", "-", "--if-version", "0", "--socket", s, input=b"one").returncode == 0
    r = run("put", "--if-version=0", "c", "A-1", "-", "--socket", s, input=b"again")
    assert r.returncode == 1 and "Conflict" in r.err
    out = os.path.join(vault.root, "a1")
    assert run("get", "c", "A-1", "-o", out, "--socket", s).returncode == 0
    assert open(out, "rb").read() == b"one"
    # Replacing an existing FILE takes --force (issue #8), anywhere on the line.
    assert run("get", "--output=" + out, "c", "A-1", "--version=1", "--socket", s, "--force").returncode == 0
    r = run("list", "c", "--json", "--socket", s, "--limit", "1")
    assert [x["id"] for x in json.loads(r.out)["records"]] == ["A-1"]
    # "--" ends the options: what follows is an argument even if it starts with "-".
    r = run("--socket", s, "get", "--", "c", "-x")
    assert r.returncode == 1 and "InvalidParameter" in r.err and "parameter=id" in r.err


@pytest.mark.parametrize("args,named,hint", [
    (["--versoin"], "unknown option '--versoin'", "Try 'vaultctl --help'."),
    (["status", "--bogus"], "unknown option '--bogus'", "Try 'vaultctl status --help'."),
    (["audit", "export", "--bogus=1"], "unknown option '--bogus'", "Try 'vaultctl audit export --help'."),
    (["get", "c", "x", "-x"], "unknown option '-x'", "Try 'vaultctl get --help'."),
    (["get", "c", "x", "--version"], "option '--version' needs a value", "Try 'vaultctl get --help'."),
    (["status", "--json=yes"], "option '--json' takes no value", "Try 'vaultctl status --help'."),
    (["--timeout", "soon", "status"], "--timeout must be a whole number", "Try 'vaultctl --help'."),
    (["bogus"], "unknown command 'bogus'", "Try 'vaultctl --help'."),
    (["audit"], "missing command (one of: head, export, report, prove, consistency, witness-request, cosign, verify, resolve, rotate-key)",
     "Try 'vaultctl audit --help'."),
    (["get", "only-one"], "missing arguments; usage: vaultctl get COLLECTION ID",
     "Try 'vaultctl get --help'."),
    (["status", "extra"], "unexpected argument 'extra'", "Try 'vaultctl status --help'."),
    (["audit", "verify", "--partial"], "--partial is for an export file", "Try 'vaultctl audit verify --help'."),
    (["audit", "verify", "--since-head", "12"], "--since-head takes SEQ:HASH", "Try 'vaultctl audit verify --help'."),
])
def test_usage_errors_name_the_problem(args, named, hint):
    r = run(*args)
    assert r.returncode == 2 and r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("vaultctl: " + named) and lines[1] == hint, r.err


def test_subcommand_help_is_not_taken_for_the_global_one():
    r = run("audit", "export", "--help")
    assert r.returncode == 0 and r.out.startswith("usage: vaultctl audit export [-o FILE [--force]]")
    r = run("--json", "audit", "verify", "-h")
    assert r.returncode == 0 and r.out.startswith("usage: vaultctl audit verify")
    r = run("--help")
    assert r.returncode == 0 and r.out.startswith("usage: vaultctl [OPTIONS] COMMAND")


# 2. --version.

def test_version():
    for args in (["--version"], ["status", "--version"], ["audit", "head", "--version"]):
        r = run(*args)
        assert r.returncode == 0 and r.out == "vaultctl %s\n" % MAKEFILE_VERSION and r.err == "", args


def test_get_version_after_the_command_is_the_records(vault):
    vault.ctl("put", "c", "V-1", "-", input=b"first", check=True)
    vault.ctl("put", "c", "V-1", "-", input=b"second", check=True)
    assert vault.ctl("get", "c", "V-1", "--version", "1").stdout == b"first"


# 3. Help for every command.

@pytest.mark.parametrize("cmd,needs", COMMANDS, ids=["-".join(c) for c, _ in COMMANDS])
def test_help_per_command(cmd, needs):
    r = run(*cmd, "--help")
    assert r.returncode == 0 and r.err == ""
    title = " ".join(cmd)
    assert r.out.startswith("usage: vaultctl %s" % title), r.out
    example = r.out.split("\nExample:\n", 1)[1].splitlines()[0]
    assert example.startswith("  vaultctl %s" % title), r.out
    assert re.search(r"^Needs: .*%s" % re.escape(needs), r.out, re.M), r.out
    assert len(r.out.split("\n\n")[1]) > 20  # says what it does


def test_top_help_lists_every_command_and_the_exit_codes():
    r = run("--help")
    assert r.returncode == 0
    for cmd, _ in COMMANDS:
        assert re.search(r"^  %s\s" % re.escape(" ".join(cmd)), r.out, re.M), cmd
    for opt in ("--socket PATH", "--json", "--timeout SECONDS", "--help", "--version"):
        assert opt in r.out
    assert "4 cannot reach vaultd, 5 access denied, 6 not found" in r.out
    r = run("audit", "--help")
    assert r.returncode == 0 and all("audit " + s in r.out for s in ("head", "export", "verify"))


# 4 and 5. Exit codes, and one JSON object for every failure under --json.

def tampered_export(vault):
    vault.ctl("put", "c", "T-1", "-", input=b"x", check=True)
    lines = vault.export().split(b"\n")
    lines[2] = lines[2].replace(b'"records.put"', b'"records.get"')
    path = os.path.join(vault.root, "tampered.jsonl")
    open(path, "wb").write(b"\n".join(lines))
    return path


def test_exit_codes_and_json_errors(vault, fake):
    vault.ctl("put", "c", "E-1", "-", input=b"x", check=True)
    cases = [
        # (arguments, run as uid, exit code, error name under --json)
        (["put", "c", "E-1", "-", "--if-version", "0"], None, 1, "io.vaultd.records.Conflict"),
        (["status", "--bogus"], None, 2, "vaultctl.UsageError"),
        (["audit", "verify", "--file", tampered_export(vault)], None, 3, "vaultctl.NotVerified"),
        (["get", "c", "E-1"], NOBODY, 5, "io.vaultd.records.AccessDenied"),
        (["get", "c", "E-404"], None, 6, "io.vaultd.records.NotFound"),
    ]
    for args, uid, code, name in cases:
        r = vault.ctl(*args, uid=uid, input=b"y")
        assert r.returncode == code and r.stdout == b"", (args, r.returncode, r.stderr)
        # One line saying what is wrong (a usage error adds where to read more).
        assert len(r.stderr.splitlines()) == (2 if code == 2 else 1), r.stderr
        assert r.stderr.startswith("vaultctl: "), r.stderr
        r = vault.ctl(*args, uid=uid, input=b"y", json_out=True)
        obj = json_error(r, name, code)
        if code == 6:
            assert obj["parameters"] == {"collection": "c", "id": "E-404"}
            assert obj["message"].startswith("NotFound: collection=c id=E-404")
    # 4: vaultd cannot be reached.
    missing = os.path.join(vault.root, "nothing-here.sock")
    json_error(run("--json", "--socket", missing, "status"), "vaultctl.ConnectionFailed", 4)
    json_error(run("--socket", fake("silent"), "--timeout", "1", "status", "--json"), "vaultctl.Timeout", 4)
    json_error(run("--socket", fake("close"), "status", "--json"), "vaultctl.ConnectionClosed", 4)
    # --json after the mistake still makes the usage error JSON.
    obj = json_error(run("status", "--bogus", "--json"), "vaultctl.UsageError", 2)
    assert "unknown option '--bogus'" in obj["message"]


def test_evidence_with_another_key_does_not_verify(vault):
    head = vault.ctl("audit", "head", json_out=True).json
    path = os.path.join(vault.root, "e.jsonl")
    open(path, "wb").write(vault.export())
    other = head["verifier_key"].replace(head["origin"], "someone-else", 1)
    r = vault.ctl("audit", "verify", "--file", path, "--key", other, json_out=True)
    obj = json_error(r, "vaultctl.NotVerified", 3)
    assert obj["parameters"]["file"] == path and obj["parameters"]["line"] == 1
    # Cut off after the last audit line: incomplete evidence.
    lines = open(path, "rb").read().split(b"\n")
    cut = [l for l in lines if not l.startswith(b'{"checkpoint"')]
    open(path, "wb").write(b"\n".join(cut))
    r = vault.ctl("audit", "verify", "--file", path)
    assert r.returncode == 3 and "does NOT verify" in r.stderr


def test_cannot_connect_says_why(vault_dir):
    path = os.path.join(vault_dir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # a socket file nobody listens on
    r = run("--socket", path, "status")
    assert r.returncode == 4
    assert "cannot connect to %s: Connection refused (nothing listens there" % path in r.err
    r = run("--socket", os.path.join(vault_dir, "none.sock"), "status")
    assert r.returncode == 4 and "no such socket (is vaultd running?" in r.err and "--socket PATH" in r.err


# 6. Output for people.

def test_get_adds_a_newline_only_on_a_terminal(vault):
    vault.ctl("put", "c", "N-1", "-", input=b"no newline at the end", check=True)
    cmd = [VAULTCTL, "--socket", vault.sock, "get", "c", "N-1"]
    rc, shown, _ = run_on_terminal(cmd, "stdout")
    assert rc == 0 and shown == b"no newline at the end\r\n"
    assert vault.ctl("get", "c", "N-1").stdout == b"no newline at the end"  # a pipe: exact bytes
    vault.ctl("put", "c", "N-2", "-", input=b"ends in one\n", check=True)
    rc, shown, _ = run_on_terminal([VAULTCTL, "--socket", vault.sock, "get", "c", "N-2"], "stdout")
    assert rc == 0 and shown == b"ends in one\r\n"


def test_counts_are_singular_or_plural(vault):
    r = vault.ctl("import", "c", "-", input='{"id": "P-1", "record": {}}\n')
    assert r.returncode == 0 and r.stdout_text == "imported 1 record into c\n"
    r = vault.ctl("import", "c", "-", input='{"id": "P-2", "record": {}}\n{"id": "P-3", "record": {}}\n')
    assert r.returncode == 0 and r.stdout_text == "imported 2 records into c\n"
    path = os.path.join(vault.root, "one.policy")
    open(path, "w").write("allow user root role admin\n")
    assert vault.ctl("policy", "check", path).stdout_text == \
        "%s: OK, 1 rule, 0 warnings\n  allow user root role admin\n" % path


def test_export_and_verify_report_the_same_counts(vault):
    for i in range(3):
        vault.ctl("put", "c", "X-%d" % i, "-", input=b"x", check=True)
    path = os.path.join(vault.root, "counted.jsonl")
    r = vault.ctl("audit", "export", "-o", path)
    m = re.fullmatch(r"exported (\d+) audit lines \(seq (\d+)\.\.(\d+)\) and (\d+) signed (checkpoints?) "
                     r"to (.*)\nline times: [-0-9: ]+ \.\. [-0-9: ]+, local time \(.+, UTC[-+]\d\d:\d\d\)\n",
                     r.stdout_text)
    assert r.returncode == 0 and m, r.stdout_text
    exported = [int(m.group(i)) for i in (1, 2, 3, 4)]
    assert m.group(5) == ("checkpoint" if exported[3] == 1 else "checkpoints")
    r = vault.ctl("audit", "verify", "--file", path)
    m = re.match(r"OK: .* verifies: (\d+) audit lines \(seq (\d+)\.\.(\d+)\), (\d+) signed checkpoints?\n",
                 r.stdout_text)
    assert r.returncode == 0 and m, r.stdout_text
    assert [int(m.group(i)) for i in (1, 2, 3, 4)] == exported
    # And both are what the file holds.
    data = open(path, "rb").read().split(b"\n")[1:-1]
    checkpoints = [l for l in data if l.startswith(b'{"checkpoint"')]
    assert exported[0] == len(data) - len(checkpoints) and exported[3] == len(checkpoints)
    j = vault.ctl("audit", "export", "-o", path + "2", json_out=True).json
    v = vault.ctl("audit", "verify", "--file", path + "2", json_out=True).json
    assert [j[k] for k in ("lines", "first_seq", "last_seq", "checkpoints")] == \
        [v[k] for k in ("lines", "first_seq", "last_seq", "checkpoints")]


def columns(line):
    """(start, end) of each blank-separated field."""
    return [m.span() for m in re.finditer(r"\S+", line)]


def assert_aligned(text, alignment):
    """Each field starts where its heading starts ("<") or ends where its
    heading ends (">")."""
    lines = text.splitlines()
    head = columns(lines[0])
    for line in lines[1:]:
        row = columns(line)
        assert len(row) == len(head), text
        for (hs, he), (rs, re_), how in zip(head, row, alignment):
            assert (rs == hs) if how == "<" else (re_ == he), text


def test_history_columns_are_aligned(vault):
    for i in range(11):
        vault.ctl("put", "h", "H-1", "-", input=b"x" * (1 if i < 5 else 12345), check=True)
    vault.ctl("delete", "h", "H-1", check=True)
    r = vault.ctl("history", "h", "H-1")
    lines = r.stdout_text.splitlines()
    assert lines[0].split() == ["VERSION", "TIME", "STATE", "SIZE", "UID"] and len(lines) == 13
    assert lines[1].split()[::2] == ["1", "stored", "0"] and lines[12].split()[::2] == ["12", "deleted", "0"]
    assert_aligned(r.stdout_text, "><<>>")  # numbers right-aligned


def test_list_columns_are_aligned(vault):
    for rid in ("A", "LONGER-ID-123"):
        vault.ctl("put", "l", rid, "-", input=b"x", check=True)
    text = vault.ctl("list", "l").stdout_text
    assert text.splitlines()[0].split() == ["ID", "VERSION", "UPDATED"] and len(text.splitlines()) == 3
    assert_aligned(text, "<><")
    assert vault.ctl("list", "empty").stdout_text == "no live records in empty\n"


def test_status_says_what_a_service_is_not_shown(vault_dir):
    v = Vault(vault_dir, policy="allow user root role admin,auditor\n"
                                "allow user %d role service collections tre-em\n" % NOBODY)
    v.start()
    try:
        r = v.ctl("status", uid=NOBODY)
        assert r.returncode == 0 and r.stdout_text.splitlines()[0] == "state:        serving"
        assert "records:" not in r.stdout_text
        assert r.stdout_text.endswith("(the counters are shown to admins and auditors only)\n")
        r = v.ctl("status")
        assert "records:      0\n" in r.stdout_text and "requests:     0 in 0 batches\n" in r.stdout_text
    finally:
        assert v.stop() == 0


def test_policy_reload_prints_its_warnings(vault):
    vault.write_policy("allow user root role admin,auditor\nallow group no-such-group-here role auditor\n")
    r = vault.ctl("policy", "reload")
    assert r.returncode == 0 and r.stdout_text == "policy reloaded: 2 rules, 1 warning\n"
    assert "warning" in r.stderr and "no-such-group-here" in r.stderr
    j = vault.ctl("policy", "reload", json_out=True).json
    assert len(j["warnings"]) == 1 and "no-such-group-here" in j["warnings"][0]


# 7. Bulk import.

def import_lines(n, start=0, size=0):
    return "".join(json.dumps({"id": "I-%d" % i, "record": {"i": i, "pad": "p" * size}}) + "\n"
                   for i in range(start, start + n))


def test_import_stops_at_the_first_access_denied(vault_dir):
    v = Vault(vault_dir, policy="allow user root role admin,auditor\n"
                                "allow user %d role service collections tre-em\n" % NOBODY)
    v.start()
    try:
        path = os.path.join(vault_dir, "in.jsonl")
        open(path, "w").write(import_lines(200))
        os.chmod(path, 0o644)
        r = v.ctl("import", "ho-ngheo", path, "--skip", "10", uid=NOBODY)
        assert r.returncode == 5 and r.stdout == b""
        assert r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("vaultctl: import stopped at line 11: AccessDenied")
        assert "0 records stored" in r.stderr and "--skip 10" in r.stderr
        # One denial in the trail, not one per line.
        denied = [e for e in audit_lines(v.export()) if e["result"] == "denied"]
        assert len(denied) == 1 and denied[0]["op"] == "records.put"
        r = v.ctl("import", "ho-ngheo", path, uid=NOBODY, json_out=True)
        obj = json_error(r, "io.vaultd.records.AccessDenied", 5)
        assert obj["import"]["stored"] == 0 and "resume_skip" not in obj["import"]
        # The collection it may write imports whole.
        r = v.ctl("import", "tre-em", path, uid=NOBODY)
        assert r.returncode == 0 and r.stdout_text == "imported 200 records into tre-em\n"
    finally:
        assert v.stop() == 0


def test_import_stops_when_the_disk_is_full(vault_dir):
    with small_disk(os.path.join(vault_dir, "small"), "24m") as mnt:
        v = Vault(mnt)
        v.start()
        blob = base64.b64encode(os.urandom(192 * 1024)).decode()
        data = "".join(json.dumps({"id": "F-%d" % i, "record": {"scan": blob}}) + "\n" for i in range(200))
        r = v.ctl("import", "c", "-", input=data)
        m = re.fullmatch(r"vaultctl: import stopped at line (\d+): StorageFull: .*; (\d+) records? stored, "
                         r"(\d+) failed; resume with: vaultctl import c - --skip (\d+)\n", r.stderr)
        assert r.returncode == 1 and m, r.stderr
        line, stored, failed, skip = (int(m.group(i)) for i in (1, 2, 3, 4))
        assert skip == line - 1 and 0 < stored and stored + failed < 200
        c = Client(v.sock)
        assert c.call("io.vaultd.admin.Status")["parameters"]["records"] == stored
        c.close()
        assert v.stop() == 0


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met within %s s" % timeout)


def record_count(vault):
    c = Client(vault.sock)
    try:
        return c.call("io.vaultd.admin.Status")["parameters"]["records"]
    finally:
        c.close()


def test_import_ctrl_c_says_where_to_resume(vault):
    p = subprocess.Popen([VAULTCTL, "--socket", vault.sock, "import", "c", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(import_lines(30).encode())
    p.stdin.flush()  # and keep the pipe open: vaultctl waits for more
    wait_for(lambda: record_count(vault) == 30)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 1 and out == b""
    assert err.decode() == ("vaultctl: interrupted after line 30; 30 records stored, 0 failed; "
                            "resume with: vaultctl import c - --skip 30\n")
    # The resume stores the rest, each record once.
    r = vault.ctl("import", "c", "-", "--skip", "30", input=import_lines(60))
    assert r.returncode == 0 and r.stdout_text == "imported 30 records into c\n"
    records = vault.ctl("list", "c", "--all", json_out=True).json["records"]
    assert len(records) == 60 and {x["version"] for x in records} == {1}


def test_import_failed_lines_go_on(vault):
    data = '{"id": "G-1", "record": {}}\nnot json\n{"id": "bad id", "record": {}}\n{"id": "G-2", "record": {}}\n'
    r = vault.ctl("import", "c", "-", input=data)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.splitlines() == [
        "vaultctl: line 2: expected {\"id\": ID, \"record\": {...}}; skipped",
        "vaultctl: line 3: InvalidParameter: parameter=id reason=it has a space (byte 3); names have none: a "
        "record id is 1-128 bytes of UTF-8: letters (Vietnamese too), digits, punctuation and symbols such as / "
        "- . :, starting with a letter or digit; no spaces or control characters",
        "vaultctl: imported 2 records into c, but 2 lines of - failed (listed above)",
    ]
    r = vault.ctl("import", "c", "-", input=data, json_out=True)
    obj = json.loads(r.stdout)
    assert r.returncode == 1 and obj["error"] == "vaultctl.ImportIncomplete"
    assert [e["line"] for e in obj["parameters"]["errors"]] == [2, 3] and obj["import"]["stored"] == 2


def test_import_shows_progress_on_a_terminal_only(vault):
    path = os.path.join(vault.root, "many.jsonl")
    open(path, "w").write(import_lines(8000, size=100))
    rc, shown, out = run_on_terminal([VAULTCTL, "--socket", vault.sock, "import", "p", path], "stderr")
    assert rc == 0 and out == b"imported 8000 records into p\n"
    progress = shown.decode()
    assert re.search(r"importing: \d+ records, \d+ records/s, \d+%, ETA \d+:\d\d", progress), progress
    assert progress.endswith("\r\x1b[K")  # erased before the summary
    r = vault.ctl("import", "q", path)  # not a terminal: no progress
    assert r.returncode == 0 and r.stderr == ""


# 8. --timeout.

def test_timeout_when_vaultd_does_not_answer(fake):
    path = fake("silent")
    t = time.monotonic()
    r = run("--socket", path, "--timeout", "1", "status")
    assert r.returncode == 4 and time.monotonic() - t < 5
    assert r.err == ("vaultctl: no reply from vaultd within 1 s on %s (is it running? see 'systemctl "
                     "status vaultd' and 'journalctl -u vaultd'; for a long export or verify, use "
                     "--timeout 0)\n" % path)


def test_timeout_when_vaultd_does_not_accept(fake):
    path = fake("backlog")
    t = time.monotonic()
    r = run("--socket", path, "--timeout", "1", "status")
    assert r.returncode == 4 and time.monotonic() - t < 5
    assert "vaultd did not accept the connection within 1 s on %s" % path in r.err


def test_timeout_zero_waits_and_the_deadline_holds(fake):
    r = run("--socket", fake("slow", delay=2), "--timeout", "1", "status")
    assert r.returncode == 4 and "no reply from vaultd within 1 s" in r.err
    r = run("--socket", fake("slow", delay=1.5), "--timeout", "0", "status", "--json")
    assert r.returncode == 0 and json.loads(r.out)["state"] == "serving"


def test_closed_connection_is_reported(fake):
    r = run("--socket", fake("close"), "status")
    assert r.returncode == 4 and "vaultd closed the connection" in r.err and "journalctl -u vaultd" in r.err


# 9. Man pages.

def render(page):
    r = subprocess.run(["man", "-l", os.path.join(REPO, "docs", "man", page)], capture_output=True,
                       text=True, env=dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING=""))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def test_man_pages_lint_clean():
    pages = [os.path.join(REPO, "docs", "man", p) for p in ("vaultctl.1", "vaultd.8")]
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning"] + pages, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_vaultctl_man_page_lists_everything():
    text = render("vaultctl.1")
    # An option glued to its value ("--versionN") is a markup slip.
    assert not re.search(r"--[a-z][a-z-]*[A-Z]", text), re.findall(r"--[a-z][a-z-]*[A-Z]\w*", text)
    for cmd, _ in COMMANDS:
        assert re.search(r"^\s+%s\b" % re.escape(" ".join(cmd)), text, re.M), cmd
        help_text = run(*cmd, "--help").out
        for opt in set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-o)\b", help_text)):
            assert re.search(r"(?<![\w-])%s\b" % re.escape(opt), text), (cmd, opt)
    for opt in ("--socket PATH", "--json", "--timeout SECONDS", "--version", "-h, --help", "--skip N",
                "--if-version N", "--version N", "-o FILE"):
        assert opt in text, opt
    status = text.split("EXIT STATUS")[1].split("ENVIRONMENT")[0]
    assert [int(n) for n in re.findall(r"^ +(\d) ", status, re.M)] == list(range(7))
    for name in ("vaultctl.UsageError", "vaultctl.ConnectionFailed", "vaultctl.Timeout", "vaultctl.NotVerified"):
        assert name in text


def test_vaultd_man_page_lists_every_option():
    text = render("vaultd.8")
    usage = subprocess.run([VAULTD, "--help"], capture_output=True, text=True).stdout
    options = set(re.findall(r"^\s+(?:-h, )?(--[a-z][a-z-]+)", usage, re.M)) | {"--version"}
    assert {"--user", "--allow-root", "--no-sandbox", "--write-timeout",
            "--max-connections-per-user"} <= options
    for opt in options:
        assert re.search(r"^\s+(-h, )?%s\b" % re.escape(opt), text, re.M), opt
    assert not re.search(r"--[a-z][a-z-]*[A-Z]", text)
    status = text.split("EXIT STATUS")[1].split("SEE ALSO")[0]
    assert [int(n) for n in re.findall(r"^ +(\d) ", status, re.M)] == [0, 1, 2]


# 10. Bash completion.

def complete(*words):
    """The candidates bash offers after `words` (the last is being typed)."""
    script = 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vaultctl; ' \
             'printf "%s\\n" "${COMPREPLY[@]}"'
    r = subprocess.run(["bash", "--norc", "-c", script, "bash", COMPLETION, "vaultctl"] + list(words),
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return sorted(filter(None, r.stdout.split("\n")))


def test_bash_completion():
    assert complete("") == sorted(["status", "put", "get", "delete", "list", "find", "history", "import",
                                   "audit", "policy", "key", "unseal", "seal", "backup"])
    assert complete("au") == ["audit"]
    assert complete("audit", "") == ["consistency", "cosign", "export", "head", "prove", "report", "resolve",
                                     "rotate-key", "verify", "witness-request"]
    assert complete("audit", "cosign", "") == ["import"]
    assert complete("audit", "witness-request", "--s") == ["--since", "--size", "--socket"]
    assert complete("--socket", "/run/x.sock", "--json", "audit", "ex") == ["export"]
    assert complete("policy", "") == ["check", "reload"]
    assert complete("audit", "export", "--") == sorted([
        "--output", "--force", "--since", "--until", "--from-seq", "--to-seq", "--from", "--to", "--format",
        "--key", "--user", "--role", "--collection", "--id", "--op", "--result", "--socket", "--json",
        "--timeout", "--help", "--version"])
    assert complete("audit", "report", "--l") == ["--lang"]
    assert complete("audit", "report", "--lang", "") == ["en", "vi"]
    assert complete("audit", "export", "--format", "") == ["csv", "jsonl"]
    assert complete("audit", "export", "--since", "2026-11-01", "--result", "d") == ["denied"]
    # A value is not taken for the command: after it, options again.
    assert complete("audit", "report", "--since", "2026-11-01", "--f") == ["--force", "--from", "--from-seq"]
    assert complete("unseal", "--passphrase-file", "Makef") == ["Makefile"]
    assert complete("audit", "verify", "--k") == ["--key"]
    assert complete("get", "c", "x", "--v") == ["--version"]
    assert complete("import", "c", "f", "--s") == ["--skip", "--socket"]
    assert "Makefile" in complete("policy", "check", "Makef")
    assert complete("--timeout", "") == []


def test_make_install_installs_the_completion(tmp_path):
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(tmp_path),
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    installed = tmp_path / "usr/share/bash-completion/completions/vaultctl"
    assert installed.read_bytes() == open(COMPLETION, "rb").read()
