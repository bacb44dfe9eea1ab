"""Fixtures that run the real vaultd and vaultctl in a temporary directory."""
import base64
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("VAULTD_BUILD", os.path.join(REPO, "build")))
VAULTD = os.path.join(BUILD, "vaultd")
VAULTCTL = os.path.join(BUILD, "vaultctl")

# Unprivileged accounts the role tests run vaultctl as (Debian's nobody).
NOBODY = 65534

DEFAULT_POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
"""


class Vault:
    """One vault: its directory, key, policy and (when started) daemon."""

    def __init__(self, root, policy=DEFAULT_POLICY, extra_args=(), key_args=()):
        """key_args: given to vaultd --generate-key and --init (for example
        --passphrase-file F, to seal the root key)."""
        self.root = root
        self.state = os.path.join(root, "state")
        self.key = os.path.join(root, "root.key")
        self.policy = os.path.join(root, "vaultd.policy")
        self.sock = os.path.join(root, "vaultd.sock")
        self.log = os.path.join(root, "vaultd.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.write_policy(policy)
        for args in (["--generate-key", self.key], ["--init", "--state-dir", self.state, "--key-file", self.key]):
            r = subprocess.run([VAULTD] + args + list(key_args) + self.daemon_user(), capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stderr

    def write_policy(self, text):
        with open(self.policy, "w") as f:
            f.write(text)

    def start(self, wait=True):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [VAULTD, "--state-dir", self.state, "--key-file", self.key,
             "--policy", self.policy, "--socket", self.sock] + self.daemon_user() + self.extra_args,
            stdout=logf, stderr=logf)
        logf.close()
        if wait:
            self.wait_ready()
        return self.proc

    def daemon_user(self):
        # As root (CI), vaultd must drop privileges: to nobody, as a real
        # deployment drops to its own account.
        if os.geteuid() == 0 and not any(a in ("--user", "--allow-root") for a in self.extra_args):
            return ["--user", "nobody"]
        return []

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("vaultd exited: " + self.read_log())
            try:
                # An answer means the event loop runs: start-up, privilege
                # drop and sandbox are done.
                c = Client(self.sock, timeout=5)
                c.call("org.varlink.service.GetInfo")
                c.close()
                return
            except (OSError, ConnectionError):
                time.sleep(0.02)
        raise AssertionError("vaultd did not start: " + self.read_log())

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=20)
            self.proc = None
            return rc
        self.proc = None
        return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)
        self.proc = None

    def ctl(self, *args, uid=None, input=None, socket=True, json_out=False, check=False):
        cmd = [VAULTCTL]
        if socket:
            cmd += ["--socket", self.sock]
        if json_out:
            cmd += ["--json"]
        cmd += list(args)
        if uid is not None:
            cmd = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"] + cmd
        if isinstance(input, str):
            input = input.encode()
        r = subprocess.run(cmd, input=input, capture_output=True, timeout=60)
        r.stdout_text = r.stdout.decode(errors="replace")
        r.stderr = r.stderr.decode(errors="replace")
        if check:
            assert r.returncode == 0, f"{args}: {r.stderr}"
        if json_out and r.returncode == 0:
            r.json = json.loads(r.stdout)
        return r

    def export(self, *args):
        path = os.path.join(self.root, "export-%d.jsonl" % time.monotonic_ns())
        r = self.ctl("audit", "export", "-o", path, *args)
        assert r.returncode == 0, r.stderr
        with open(path, "rb") as f:
            return f.read()


def vault_from_fixture(root, fixture):
    """A Vault on a copy of a stopped vault kept in tests/integration/fixtures
    (its data.mdb.gz and plain root.key), not started."""
    here = os.path.join(os.path.dirname(__file__), "fixtures", fixture)
    v = Vault.__new__(Vault)  # not __init__: the fixture brings its own key and store
    v.root, v.state = root, os.path.join(root, "state")
    v.key, v.policy = os.path.join(root, "root.key"), os.path.join(root, "vaultd.policy")
    v.sock, v.log = os.path.join(root, "vaultd.sock"), os.path.join(root, "vaultd.log")
    v.extra_args, v.proc = [], None
    v.write_policy(DEFAULT_POLICY)
    os.mkdir(v.state, 0o700)
    with gzip.open(os.path.join(here, "data.mdb.gz")) as src, \
            open(os.path.join(v.state, "data.mdb"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(os.path.join(here, "root.key"), v.key)
    os.chmod(v.key, 0o600)
    os.chmod(os.path.join(v.state, "data.mdb"), 0o600)
    return v


def audit_lines(export_bytes):
    """The audit lines (parsed) of an export, without header and checkpoints."""
    out = []
    for raw in export_bytes.split(b"\n")[1:]:
        if not raw:
            continue
        obj = json.loads(raw)
        if "checkpoint" in obj:
            continue
        out.append(obj)
    return out


@contextlib.contextmanager
def small_disk(mnt, size):
    """A tmpfs of size (as mount takes it: "24m") made and mounted at mnt,
    to fill the disk under a vault; unmounted after, lazily, should a
    daemon still hold it. Needs root, as the tests run in CI."""
    os.mkdir(mnt, 0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=755" % size, "tmpfs", mnt], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt])


@pytest.fixture
def vault_dir():
    d = tempfile.mkdtemp(prefix="vaultd-test-")
    os.chmod(d, 0o755)  # other uids must reach the socket
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def vault(vault_dir):
    v = Vault(vault_dir)
    v.start()
    yield v
    rc = v.stop()
    assert rc in (0, None), "vaultd did not stop cleanly: " + v.read_log()


# The Go test programs, each built by the build.sh in its directory
# (tests/gobuild.sh: offline, from Debian's packages only).
GO_TOOLS = {
    "gotlog": os.path.join(REPO, "tests", "merkle", "gotlog"),
    "gonote": os.path.join(REPO, "tests", "notes", "gonote"),
    "gowitness": os.path.join(REPO, "tests", "witness", "gowitness"),
}


class GoBuilder:
    """Builds each Go test program of GO_TOOLS at most once, all into one
    directory (they share its Go build cache), and remembers a failure so
    that each test needing the program fails with the build's output."""

    def __init__(self, out):
        self.out = out
        self.built = {}  # name: (path, None) or (None, error)

    def __call__(self, name):
        if name not in self.built:
            self.built[name] = self._build(name)
        path, error = self.built[name]
        if error:
            pytest.fail(error, pytrace=False)
        return path

    def _build(self, name):
        script = os.path.join(GO_TOOLS[name], "build.sh")
        what = "building %s (%s)" % (name, os.path.relpath(script, REPO))
        try:
            r = subprocess.run(["sh", script, self.out], capture_output=True, text=True, encoding="utf-8",
                               errors="replace", timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, "%s failed: %s" % (what, e)
        path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.returncode != 0 or not os.access(path, os.X_OK):
            return None, "%s failed, exit %d:\n%s%s" % (what, r.returncode, r.stdout, r.stderr)
        return path, None


@pytest.fixture(scope="session")
def go_builder():
    out = tempfile.mkdtemp(prefix="vaultd-go-")
    yield GoBuilder(out)
    shutil.rmtree(out, ignore_errors=True)


def go_tools(*names):
    """A module-scoped fixture that gives {name: path} of these Go test
    programs (keys of GO_TOOLS), each built once per session. A missing Go
    toolchain or package fails the tests that use it, never skips them.

        go = go_tools("gotlog", "gonote")   # at module level
    """
    unknown = set(names) - set(GO_TOOLS)
    assert not unknown, "no such Go test program: %s" % ", ".join(sorted(unknown))

    @pytest.fixture(scope="module")
    def fixture(go_builder):
        return {name: go_builder(name) for name in names}

    return fixture


class Client:
    """A small varlink client for tests (pipelining, raw access)."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, method, params=None, more=False, raw=None):
        if raw is not None:
            self.sock.sendall(raw)
            return
        msg = {"method": method, "parameters": params or {}}
        if more:
            msg["more"] = True
        self.sock.sendall(json.dumps(msg).encode() + b"\0")

    def recv(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None):
        self.send(method, params)
        return self.recv()

    # Calls in flight at once for put_many: enough to fill group-commit
    # batches, few enough that the replies never fill the socket while the
    # client is still sending (a slow, sanitized daemon would otherwise
    # cut it off at its write timeout), as vaultctl import does.
    PIPELINE_WINDOW = 64

    def put_many(self, collection, count, records):
        """Pipelines count empty-bodied Puts spread over `records` ids, at
        most PIPELINE_WINDOW in flight, and checks that none failed."""
        sent = received = 0
        while received < count:
            while sent < count and sent - received < self.PIPELINE_WINDOW:
                self.send("io.vaultd.records.Put",
                          {"collection": collection, "id": "R-%d" % (sent % records), "data": ""})
                sent += 1
            r = self.recv()
            received += 1
            assert "error" not in r, r

    def close(self):
        self.sock.close()


# A varlink client as a script of its own, for other uids: it must not
# import anything from the tests' folder, which they may not read.
CLIENT_SCRIPT = """
import json, socket, sys
class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX); self.s.settimeout(30); self.s.connect(path); self.buf = b""
    def send(self, method, params):
        self.s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\\0")
    def recv(self):
        while b"\\0" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\\0", 1)
        return json.loads(msg)
    def call(self, method, params):
        self.send(method, params)
        return self.recv()
"""

_AS_UID = CLIENT_SCRIPT + """
c = Client(sys.argv[1])
calls = json.loads(sys.stdin.read())
if sys.argv[2:] == ["pipelined"]:
    for method, params in calls:
        c.send(method, params)
    for _ in calls:
        print(json.dumps(c.recv()), flush=True)
else:
    for method, params in calls:
        print(json.dumps(c.call(method, params)), flush=True)
"""


def calls_as(sock, uid, calls, groups=(), pipelined=False):
    """Makes each (method, params) call over one connection as another uid
    (with these supplementary groups) and returns the replies; pipelined:
    sends them all before reading a reply (a few, so they fit the socket's
    buffers)."""
    cmd = ["setpriv", "--reuid", str(uid), "--regid", str(uid)]
    cmd += ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    r = subprocess.run(cmd + ["/usr/bin/python3", "-c", _AS_UID, sock] + (["pipelined"] if pipelined else []),
                       input=json.dumps(calls), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def copies_at_rest(vault):
    """What leaves the vault for an auditor or a backup disk, as (what,
    bytes): a JSONL and a CSV export, the HTML report and a backup. The
    private ids and names tests search them for what must not be there."""
    report = os.path.join(vault.root, "report-%d.html" % time.monotonic_ns())
    backup = os.path.join(vault.root, "backup-%d.mdb" % time.monotonic_ns())
    vault.ctl("audit", "report", "-o", report, check=True)
    vault.ctl("backup", backup, check=True)
    out = [("the JSONL export", vault.export()),
           ("the CSV export", vault.ctl("audit", "export", "--format", "csv", check=True).stdout)]
    for what, path in (("the report", report), ("the backup", backup)):
        with open(path, "rb") as f:
            out.append((what, f.read()))
    return out


def store_after_stop(vault):
    """Stops the vault and returns its data.mdb as it lies on disk."""
    vault.stop()
    with open(os.path.join(vault.state, "data.mdb"), "rb") as f:
        return f.read()


# Records calls as the records-control tests make them (test_dispose,
# test_find, test_private_ids).
def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def ok(r):
    assert "error" not in r, r
    return r["parameters"]


def put(c, coll, rid, body, **kw):
    return c.call("io.vaultd.records.Put", dict(collection=coll, id=rid, data=b64(body), **kw))
