"""The systemd units: clean under systemd-analyze verify, hardened to an
exposure score of at most 1.0, their syscall filter open to every call of
vaultd's own allowlist, and installed by make install. Also what the unit
relies on: --init-if-empty, --generate-key, the refusal to serve in a user
namespace, and --help / --version."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, REPO, VAULTCTL, VAULTD

UNITS = os.path.join(REPO, "packaging", "systemd")


def test_security_score_at_most_1():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        os.path.join(UNITS, "vaultd.service")], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for vaultd.service: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 1.0, r.stdout


def test_units_verify_clean(tmp_path):
    # verify checks that ExecStart exists: point it at the binary just built.
    for name in ("vaultd.service", "vaultd.socket"):
        text = open(os.path.join(UNITS, name)).read()
        text = text.replace("/usr/sbin/vaultd", os.path.join(BUILD, "vaultd"))
        (tmp_path / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "vaultd.service"),
                        str(tmp_path / "vaultd.socket")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


# --- The unit's SystemCallFilter= against vaultd's own seccomp allowlist ---

DAEMON_DIR = os.path.join(REPO, "vaultd")

# Calls the daemon makes through libraries while it confines itself, which
# no SCMP_SYS()/SYS_ name in its sources shows: setrlimit() is prlimit64 in
# glibc, seccomp_load() is seccomp(), prctl() for no-new-privileges,
# not-dumpable and the keeper's death signal, fork() of the keeper is clone,
# and sodium_malloc's mlock for the key pages.
SANDBOX_SETUP_CALLS = {"prlimit64", "seccomp", "prctl", "clone", "mlock", "munlock", "madvise"}


def _syscall_groups():
    """{"@group": [members, "@nested", ...]} from systemd-analyze."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith("    ") and not line.strip().startswith("#") and current is not None:
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def _expand(names, groups):
    out = set()
    for name in names:
        name = name.split(":")[0]  # name:errno
        if name.startswith("@"):
            assert name in groups, "unknown syscall group " + name
            out |= _expand(groups[name], groups)
        else:
            out.add(name)
    return out


def unit_allowed_syscalls(unit_text):
    """The calls a unit's SystemCallFilter= lines let through, as systemd
    reads them: the first line decides allow- or deny-list mode (an
    allow-list always holds @default), later lines add or remove, an empty
    assignment resets. None when the unit has no allow-list."""
    groups = _syscall_groups()
    allowed = None
    for line in unit_text.splitlines():
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1].strip()
        if not value:
            allowed = None
            continue
        invert = value.startswith("~")
        names = _expand(value.lstrip("~").split(), groups)
        if allowed is None:
            if invert:
                return None  # a deny-list only: not the shipped unit's shape
            allowed = names | _expand(["@default"], groups)
        elif invert:
            allowed -= names
        else:
            allowed |= names
    return allowed


def daemon_sources():
    """{file name: text} of vaultd's C sources."""
    return {name: open(os.path.join(DAEMON_DIR, name)).read()
            for name in sorted(os.listdir(DAEMON_DIR)) if name.endswith(".c")}


def daemon_syscalls(sources):
    """Every call one of vaultd's own seccomp filters allows (SCMP_SYS: the
    worker's in sandbox.c, the keeper's in keeper.c; not the sanitizer-only
    extras) and every one it makes by number (SYS_landlock_*,
    SYS_pidfd_open), plus the library calls of its set-up."""
    names = set(SANDBOX_SETUP_CALLS)
    for text in sources.values():
        text = re.sub(r"sanitizer_extra\[\] = \{.*?\};", "", text, flags=re.S)
        names |= set(re.findall(r"SCMP_SYS\((\w+)\)", text)) | set(re.findall(r"\bSYS_(\w+)", text))
    return names


def filter_gaps(unit_text, sources):
    allowed = unit_allowed_syscalls(unit_text)
    assert allowed is not None, "the unit has no SystemCallFilter= allow-list"
    return sorted(daemon_syscalls(sources) - allowed)


def test_unit_filter_allows_every_call_of_vaultds_own_filters():
    unit = open(os.path.join(UNITS, "vaultd.service")).read()
    sources = daemon_sources()
    calls = daemon_syscalls(sources)
    # The parse found the allowlists, not a handful of stray names.
    assert len(calls) > 50 and {"accept4", "landlock_restrict_self", "openat", "mmap"} <= calls
    assert filter_gaps(unit, sources) == [], "vaultd.service's SystemCallFilter= refuses these"


def test_unit_filter_check_fails_on_a_broken_unit_or_allowlist():
    unit = open(os.path.join(UNITS, "vaultd.service")).read()
    sources = daemon_sources()
    # The unit as it shipped before issue #7: Landlock missing.
    old_unit = re.sub(r"^SystemCallFilter=@system-service.*$", "SystemCallFilter=@system-service seccomp",
                      unit, flags=re.M)
    assert filter_gaps(old_unit, sources) == ["landlock_add_rule", "landlock_create_ruleset",
                                              "landlock_restrict_self"]
    # A deny line added later removes what the allow-list granted.
    assert filter_gaps(unit + "SystemCallFilter=~@memlock\n", sources) == ["mlock", "munlock"]
    # A call added to vaultd's allowlist that the unit does not allow.
    grown = dict(sources)
    grown["sandbox.c"] = sources["sandbox.c"].replace(
        '{SCMP_SYS(read), "read the event fd"},', '{SCMP_SYS(read), "read the event fd"},\n{SCMP_SYS(ptrace), "x"},')
    assert grown["sandbox.c"] != sources["sandbox.c"]
    assert filter_gaps(unit, grown) == ["ptrace"]


def test_unit_keeps_what_the_daemon_needs():
    text = open(os.path.join(UNITS, "vaultd.service")).read()
    assert "LoadCredential=vaultd.key:" in text and "Type=notify" in text and "WatchdogSec=" in text
    assert not re.search(r"^PrivateUsers=(yes|true|1|on)", text, re.M)  # peer uids must be real
    assert re.search(r"^LimitMEMLOCK=\d", text, re.M)
    exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    assert "--init-if-empty" in exec_start and "--key-file" not in exec_start  # the credential


def test_make_install(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(dest),
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for path in ("usr/sbin/vaultd", "usr/bin/vaultctl", "usr/lib/systemd/system/vaultd.service",
                 "usr/lib/systemd/system/vaultd.socket", "usr/lib/sysusers.d/vaultd.conf",
                 "usr/lib/tmpfiles.d/vaultd.conf", "etc/vaultd/vaultd.policy",
                 "usr/share/man/man8/vaultd.8", "usr/share/man/man1/vaultctl.1"):
        assert (dest / path).exists(), path
    assert os.access(dest / "usr/sbin/vaultd", os.X_OK)
    # An admin's policy is never overwritten.
    (dest / "etc/vaultd/vaultd.policy").write_text("allow user root role admin\n")
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD, "DESTDIR=" + str(dest),
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0
    assert (dest / "etc/vaultd/vaultd.policy").read_text() == "allow user root role admin\n"
    # PREFIX reaches the unit's ExecStart.
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "BUILD=" + BUILD,
                        "DESTDIR=" + str(tmp_path / "local"), "PREFIX=/usr/local"],
                       capture_output=True, text=True)
    unit = (tmp_path / "local/usr/local/lib/systemd/system/vaultd.service").read_text()
    assert "ExecStart=/usr/local/sbin/vaultd " in unit


# --- What the unit relies on from vaultd ---

def _run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, **kw)


def test_version_and_help_list_every_option():
    makefile = open(os.path.join(REPO, "Makefile")).read()
    version = re.search(r"^VERSION\s*:?=\s*(\S+)", makefile, re.M).group(1)
    r = _run(VAULTD, "--version")
    assert r.returncode == 0 and r.stdout == "vaultd %s\n" % version
    main_c = open(os.path.join(REPO, "vaultd", "main.c")).read()
    options = re.findall(r'\{"([a-z-]+)", (?:no|required|optional)_argument', main_c)
    assert len(options) >= 18 and "generate-key" in options
    r = _run(VAULTD, "--help")
    assert r.returncode == 0
    listed = set(re.findall(r"--([a-z-]+)", r.stdout))
    assert set(options) - listed == set(), "options missing from --help"


def test_generate_key_never_overwrites(tmp_path):
    key = tmp_path / "root.key"
    r = _run(VAULTD, "--generate-key", str(key))
    assert r.returncode == 0, r.stderr
    assert os.stat(key).st_mode & 0o777 == 0o600
    first = key.read_bytes()
    assert first.startswith(b"vaultd-root-key 1 ")
    r = _run(VAULTD, "--generate-key", str(key))
    assert r.returncode == 1 and "already exists" in r.stderr
    assert key.read_bytes() == first


def _serve(cmd, sock, log):
    """Starts cmd (vaultd); returns the process once the socket answers."""
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert p.poll() is None, "vaultd exited with %d" % p.returncode
        if _run(VAULTCTL, "--socket", sock, "status").returncode == 0:
            return p
        time.sleep(0.05)
    p.kill()
    raise AssertionError("vaultd did not answer")


def _stop(p):
    if p.poll() is None:
        p.terminate()
    return p.wait(timeout=20)


@pytest.fixture
def first_start(vault_dir):
    """A key, a policy and an empty state directory the service user owns."""
    d = vault_dir
    key, policy, state = (os.path.join(d, n) for n in ("root.key", "vaultd.policy", "state"))
    assert _run(VAULTD, "--generate-key", key).returncode == 0
    with open(policy, "w") as f:
        f.write("allow user root role admin,auditor\n")
    os.mkdir(state, 0o700)
    shutil.chown(state, "nobody")
    sock = os.path.join(d, "vaultd.sock")
    base = ["--state-dir", state, "--key-file", key, "--policy", policy, "--socket", sock, "--user", "nobody"]
    return d, state, sock, base


def test_init_if_empty_creates_the_vault_on_first_start(first_start):
    d, state, sock, base = first_start
    log_path = os.path.join(d, "log")
    # Without the flag an empty directory is an error, and stays empty.
    r = _run(VAULTD, *base)
    assert r.returncode == 1 and "--init-if-empty" in r.stderr and os.listdir(state) == []
    vault_ids = []
    with open(log_path, "wb") as log:
        for i in range(2):  # the second start opens the vault the first made
            p = _serve([VAULTD] + base + ["--init-if-empty"], sock, log)
            try:
                st = _run(VAULTCTL, "--socket", sock, "--json", "status")
                vault_ids.append(json.loads(st.stdout)["vault"])
                export = os.path.join(d, "export-%d.jsonl" % i)
                assert _run(VAULTCTL, "--socket", sock, "audit", "export", "-o", export).returncode == 0
            finally:
                assert _stop(p) == 0
    logged = open(log_path).read()
    assert vault_ids[0] == vault_ids[1]
    assert logged.count("first start: created vault " + vault_ids[0]) == 1, logged
    # Line 0 of the trail names vaultd itself as its author.
    line0 = json.loads(open(export).read().splitlines()[1])
    assert line0["op"] == "vault.init" and line0["actor"]["role"] == "system"
    assert line0["actor"]["uid"] == os.geteuid()  # created before the switch to --user


def test_init_if_empty_never_takes_over_a_directory_with_files(first_start):
    d, state, sock, base = first_start
    open(os.path.join(state, "restore-in-progress.tar"), "w").close()
    r = _run(VAULTD, *base, "--init-if-empty")
    assert r.returncode == 1 and "not empty" in r.stderr
    assert os.listdir(state) == ["restore-in-progress.tar"]


def test_refuses_to_serve_where_uids_are_remapped(first_start):
    d, state, sock, base = first_start
    assert open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    # What PrivateUsers= does: a user namespace that maps a single uid.
    userns = ["unshare", "--user", "--map-root-user"]
    r = _run(*userns, VAULTD, *base, "--init-if-empty")
    assert r.returncode == 1, r.stderr
    assert "user ids are remapped (0 0 1)" in r.stderr and "PrivateUsers=" in r.stderr
    assert os.listdir(state) == []  # refused before anything was created
    # Told that every caller shares its namespace, it serves, and says what
    # that costs. (As the namespace's root: nobody is not mapped there.)
    shutil.chown(state, "root")
    args = base[:-2] + ["--allow-root", "--init-if-empty", "--allow-user-namespace"]
    with open(os.path.join(d, "log"), "wb") as log:
        p = _serve(userns + [VAULTD] + args, sock, log)
        assert _stop(p) == 0
    logged = open(os.path.join(d, "log")).read()
    assert "callers outside this user namespace appear as the overflow uid" in logged, logged
