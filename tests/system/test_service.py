"""vaultd under a real systemd (252, PID 1 in a container), installed from
the .deb: the README's install path command by command, then what the
manager does with the service. The tests run in file order and build on
each other (one container, one vault)."""
import json
import os
import re
import shlex

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SERVICE_USER, AUDITOR = "svc-payments", "auditor1"
POLICY = """\
allow user  root          role admin
allow group vaultd-admin  role admin
allow group vaultd-audit  role auditor
allow group vaultd-witness role cosigner
allow user  %s  role service collections payments
""" % SERVICE_USER

# What the admin's editor does in step 3 (README: `editor FILE`).
FAKE_EDITOR = "#!/bin/sh\ncat /root/policy.new > \"$1\"\n"

DENIED = 5  # vaultctl's exit code for AccessDenied (README, "Exit codes")


def readme_install_steps():
    """The numbered commands of the README's "Install as a service"."""
    text = open(os.path.join(REPO, "README.md")).read()
    section = text.split("## Install as a service", 1)[1].split("\n## ", 1)[0]
    steps = re.findall(r"^(\S.*?)\s+# (\d+)\. ", section, re.M)
    assert [int(n) for _, n in steps] == list(range(1, len(steps) + 1)) and 0 < len(steps) <= 6, steps
    return [cmd for cmd, _ in steps]


def uid_of(box, user):
    return int(box.sh("id -u " + user).stdout)


def main_pid(box):
    return int(box.show("vaultd.service", "MainPID"))


def proc_status(box, pid):
    fields = {}
    for line in box.sh("cat /proc/%d/status" % pid).stdout.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def ctl_json(box, user, *args, input=None):
    r = box.as_user(user, "vaultctl", "--json", *args, input=input)
    return r, (json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None)


def journal(box, *args):
    return box.sh("journalctl --no-pager -u vaultd.service " + " ".join(args)).stdout


def test_readme_install_path(box):
    """The README's commands, verbatim, in a fresh system: apt install, key,
    policy, enable the socket, status. Only the editor is scripted."""
    steps = readme_install_steps()
    # The .deb where the README expects `make deb`'s output; accounts the
    # policy will name; the scripted editor.
    box.sh("mkdir -p /root/src/build/deb && ln -sf %s /root/src/build/deb/ && "
           "useradd --system --no-create-home %s && useradd --system --no-create-home %s"
           % (shlex.quote(box.deb), SERVICE_USER, AUDITOR))
    box.sh("mkdir -p /root/bin && printf %s > /root/bin/editor && chmod +x /root/bin/editor && "
           "printf %s > /root/policy.new" % (shlex.quote(FAKE_EDITOR), shlex.quote(POLICY)))
    env = "cd /root/src && PATH=/root/bin:$PATH && export PATH DEBIAN_FRONTEND=noninteractive && "
    for cmd in steps:
        if cmd.startswith("vaultctl"):
            # Socket activation: nothing ran before this first connection.
            assert box.show("vaultd.socket", "ActiveState") == "active"
            assert box.show("vaultd.service", "ActiveState") == "inactive"
        r = box.sh(env + cmd, input="y\n", check=False, timeout=120)
        assert r.returncode == 0, "README step `%s` failed:\n%s%s\njournal:\n%s" % (
            cmd, r.stdout, r.stderr, journal(box, "-n", "15"))
        if cmd.startswith("apt"):
            # Installed: user, groups, directories, the socket enabled but not
            # listening yet, and no key and no vault written by the package.
            box.sh("getent passwd vaultd && getent group vaultd-admin && getent group vaultd-audit && "
                   "getent group vaultd-witness")
            assert box.show("vaultd.socket", "UnitFileState") == "enabled"
            assert box.show("vaultd.socket", "ActiveState") == "inactive"
            assert box.sh("ls -A /etc/vaultd").stdout.split() == ["vaultd.policy"]
            assert box.sh("ls -A /var/lib/vaultd 2>/dev/null || true").stdout.strip() == ""
            box.sh("grep -qx /etc/vaultd/vaultd.policy /var/lib/dpkg/info/vaultd.conffiles")
            box.sh("test -f /usr/share/bash-completion/completions/vaultctl && test -f /usr/share/man/man8/vaultd.8.gz")
            # The auditor joins vaultd-audit now that the package made it.
            box.sh("usermod -a -G vaultd-audit %s" % AUDITOR)
        if cmd.startswith("vaultd --generate-key"):
            assert box.sh("stat -c %a /etc/vaultd/root.key").stdout.strip() == "600"
    last = r.stdout
    assert re.search(r"state:\s+serving", last) and re.search(r"sandbox:\s+seccomp\+landlock", last), last
    assert box.show("vaultd.service", "ActiveState") == "active"
    assert "first start: created vault" in journal(box)
    assert box.sh("stat -c %U /var/lib/vaultd/data.mdb").stdout.strip() == "vaultd"


def test_status_line_in_systemctl_status(box):
    out = box.wait_for("the STATUS= line", lambda: (
        lambda o: o if re.search(r'Status: "serving: \d+ records, \d+ audit lines, \d+ clients; disk \d+ % free; '
                         r'last checkpoint [^;"]+ ago; (last backup [^;"]+ ago|no backup yet)"', o) else None)(
        box.sh("systemctl status --no-pager vaultd.service", check=False).stdout))
    assert "TriggeredBy:" in out and "vaultd.socket" in out


def test_every_directive_in_force(box):
    pid = main_pid(box)
    st = proc_status(box, pid)
    vaultd_uid = uid_of(box, "vaultd")
    assert st["Uid"].split() == [str(vaultd_uid)] * 4  # User=
    assert st["NoNewPrivs"] == "1" and int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0
    # The unit's filters and vaultd's own, on top of what PID 1 carries.
    pid1 = proc_status(box, 1)
    assert st["Seccomp"] == "2" and int(st["Seccomp_filters"]) > int(pid1["Seccomp_filters"]) + 1
    allowed = box.show("vaultd.service", "SystemCallFilter").split()
    assert "landlock_restrict_self" in allowed and "seccomp" in allowed and "ptrace" not in allowed
    # ProtectSystem=strict: / and /usr read-only in its mount namespace,
    # only the state directory writable.
    mounts = box.sh("cat /proc/%d/mountinfo" % pid).stdout.splitlines()
    def opts(path):
        for line in reversed(mounts):  # the last mount on a path is the visible one
            fields = line.split()
            if fields[4] == path:
                return fields[5].split(",")
        return None
    assert "ro" in opts("/") and "rw" in opts("/var/lib/vaultd"), mounts
    # No user namespace: peer credentials are the real ones.
    assert box.sh("cat /proc/%d/uid_map" % pid).stdout.split() == ["0", "0", "4294967295"]
    # The key came as a credential: no --key-file, a vaultd.key in its
    # credentials directory.
    assert "--key-file" not in box.sh("tr '\\0' ' ' < /proc/%d/cmdline" % pid).stdout
    box.sh("test -f /run/credentials/vaultd.service/vaultd.key")
    # Key pages locked (LimitMEMLOCK=), no warning about it.
    assert int(st["VmLck"].split()[0]) > 0
    assert "cannot lock key memory" not in journal(box)
    r = box.sh("vaultctl status")
    assert re.search(r"sandbox:\s+seccomp\+landlock", r.stdout), r.stdout
    # The unit as installed keeps its exposure score.
    sec = box.sh("systemd-analyze security vaultd.service --no-pager").stdout
    score = float(re.search(r"Overall exposure level for vaultd.service: ([0-9.]+)", sec).group(1))
    assert score <= 1.0, sec
    print("systemd-analyze security vaultd.service: %.1f" % score)


def test_each_account_gets_exactly_its_role_and_is_audited_by_its_real_uid(box):
    svc, aud = uid_of(box, SERVICE_USER), uid_of(box, AUDITOR)
    assert svc != aud and 65534 not in (svc, aud)
    # The service: its collection, nothing else.
    r = box.as_user(SERVICE_USER, "vaultctl", "put", "payments", "P-1", "-", input="dossier P-1")
    assert r.returncode == 0, r.stderr
    r = box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1")
    assert r.returncode == 0 and r.stdout == "dossier P-1"
    assert box.as_user(SERVICE_USER, "vaultctl", "put", "cases", "C-1", "-", input="x").returncode == DENIED
    assert box.as_user(SERVICE_USER, "vaultctl", "audit", "head").returncode == DENIED
    # The auditor: the trail, never a body.
    assert box.as_user(AUDITOR, "vaultctl", "get", "payments", "P-1").returncode == DENIED
    assert box.as_user(AUDITOR, "vaultctl", "audit", "verify").returncode == 0
    r = box.as_user(AUDITOR, "vaultctl", "audit", "export", "-o", "/tmp/trail.jsonl")
    assert r.returncode == 0, r.stderr
    trail = [json.loads(l) for l in box.sh("cat /tmp/trail.jsonl").stdout.splitlines()[1:]]
    lines = [l for l in trail if "op" in l]
    by = {(l["op"], l.get("collection"), l["result"]): l["actor"] for l in lines}
    assert by[("records.put", "payments", "ok")]["uid"] == svc
    assert by[("records.put", "payments", "ok")]["role"] == "service"
    assert by[("records.put", "cases", "denied")]["uid"] == svc
    assert by[("records.get", "payments", "denied")]["uid"] == aud
    assert by[("audit.verify", None, "ok")]["uid"] == aud
    assert by[("audit.verify", None, "ok")]["role"] == "auditor"
    assert all(l["actor"]["uid"] != 65534 for l in lines)


def test_denial_in_the_journal_with_vaultd_fields(box):
    svc = uid_of(box, SERVICE_USER)
    entries = [json.loads(l) for l in journal(box, "-o json").splitlines() if l.startswith("{")]
    denials = [e for e in entries if e.get("VAULTD_RESULT") == "denied"]
    assert denials, "no journal entry with VAULTD_RESULT=denied"
    mine = [e for e in denials if e.get("VAULTD_UID") == str(svc) and e.get("VAULTD_OP") == "records.put"]
    assert mine and mine[0]["VAULTD_SEQ"].isdigit() and mine[0]["VAULTD_ERROR"]


def test_witness_poster_is_a_cosigner_and_nothing_more(box):
    """The packaged poster unit, as installed: its group gives it the
    cosigner role, enough to make a witness request (the witness itself is
    unreachable here), and the trail says so."""
    assert box.show("vaultd-witness-post.service", "SupplementaryGroups") == "vaultd-witness"
    box.sh("printf 'VAULTD_WITNESSES=w1=https://127.0.0.1:9\\n' > /etc/default/vaultd-witness-post")
    box.sh("vaultctl audit export -o /tmp/sign.jsonl")  # a fresh signed checkpoint
    box.sh("systemctl start vaultd-witness-post.service", check=False, timeout=120)
    log = box.sh("journalctl --no-pager -u vaultd-witness-post.service").stdout
    # It got its request from vaultd, then could not reach the witness.
    assert "w1: cannot reach https://127.0.0.1:9" in log and "AccessDenied" not in log, log
    # The same identity asking for the trail is denied.
    r = box.sh("systemd-run --quiet --wait --pipe -p DynamicUser=yes -p SupplementaryGroups=vaultd-witness "
               "vaultctl audit export", check=False)
    assert "AccessDenied" in r.stderr, r.stderr
    box.sh("vaultctl audit export -o /tmp/trail2.jsonl")
    lines = [json.loads(l) for l in box.sh("cat /tmp/trail2.jsonl").stdout.splitlines()[1:]]
    poster = [(l["op"], l["result"], l["actor"]["role"]) for l in lines
              if "op" in l and l["actor"].get("role") == "cosigner"]
    assert poster == [("audit.prove", "ok", "cosigner"), ("audit.export", "denied", "cosigner")], poster


def test_systemctl_reload_reloads_the_policy(box):
    pid = main_pid(box)
    box.sh("printf %s >> /etc/vaultd/vaultd.policy" %
           shlex.quote("allow user  %s  role service collections cases\n" % SERVICE_USER))
    box.sh("systemctl reload vaultd.service")
    assert main_pid(box) == pid  # reloaded, not restarted
    box.wait_for("the reload", lambda: "admin.reload-policy from SIGHUP" in journal(box))
    r = box.as_user(SERVICE_USER, "vaultctl", "put", "cases", "C-1", "-", input="x")
    assert r.returncode == 0, r.stderr


def test_systemctl_stop_is_clean(box):
    box.sh("systemctl stop vaultd.service")
    assert box.show("vaultd.service", "ActiveState") == "inactive"
    assert box.show("vaultd.service", "Result") == "success"
    assert box.show("vaultd.service", "ExecMainStatus") == "0"
    assert "received Terminated, stopping" in journal(box)
    # The socket stays; the next connection starts vaultd again, same vault.
    r = box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1")
    assert r.returncode == 0 and r.stdout == "dossier P-1"


def test_watchdog_restarts_a_hung_daemon(box):
    box.sh("mkdir -p /etc/systemd/system/vaultd.service.d && "
           "printf '[Service]\\nWatchdogSec=2s\\n' > /etc/systemd/system/vaultd.service.d/test-watchdog.conf && "
           "systemctl daemon-reload && systemctl restart vaultd.service")
    try:
        pid = main_pid(box)
        restarts = int(box.show("vaultd.service", "NRestarts"))
        box.sh("kill -STOP %d" % pid)
        box.wait_for("the watchdog restart", lambda: int(box.show("vaultd.service", "NRestarts")) > restarts
                     and main_pid(box) not in (0, pid) and box.show("vaultd.service", "ActiveState") == "active",
                     timeout=30)
        assert "Watchdog timeout" in box.sh("journalctl --no-pager -u vaultd.service").stdout
        assert box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1").returncode == 0
    finally:
        box.sh("rm /etc/systemd/system/vaultd.service.d/test-watchdog.conf && systemctl daemon-reload && "
               "systemctl restart vaultd.service")


def test_encrypted_credential(box):
    vault = ctl_json(box, "root", "status")[1]["vault"]
    box.sh("systemd-creds encrypt --with-key=host --name=vaultd.key /etc/vaultd/root.key /etc/vaultd/root.key.cred")
    box.sh("printf '[Service]\\nLoadCredential=\\nLoadCredentialEncrypted=vaultd.key:/etc/vaultd/root.key.cred\\n' "
           "> /etc/systemd/system/vaultd.service.d/credential.conf && mv /etc/vaultd/root.key /root/root.key.offline "
           "&& systemctl daemon-reload && systemctl restart vaultd.service")
    try:
        assert ctl_json(box, "root", "status")[1]["vault"] == vault
        r = box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1")
        assert r.returncode == 0 and r.stdout == "dossier P-1"
        assert box.sh("head -c 24 /run/credentials/vaultd.service/vaultd.key").stdout == "vaultd-root-key 1 plain\n"
    finally:
        box.sh("rm /etc/systemd/system/vaultd.service.d/credential.conf && mv /root/root.key.offline /etc/vaultd/root.key "
               "&& systemctl daemon-reload && systemctl restart vaultd.service")


def test_private_users_is_refused_with_a_clear_message(box):
    box.sh("printf '[Service]\\nPrivateUsers=yes\\n' > /etc/systemd/system/vaultd.service.d/test-userns.conf && "
           "systemctl daemon-reload && systemctl stop vaultd.service")
    try:
        box.sh("systemctl start vaultd.service", check=False)
        box.wait_for("the refusal", lambda: "user ids are remapped" in journal(box))
        assert "PrivateUsers=" in journal(box, "-g", shlex.quote("user ids are remapped"))
        assert box.show("vaultd.service", "ActiveState") != "active"
    finally:
        box.sh("rm /etc/systemd/system/vaultd.service.d/test-userns.conf && systemctl daemon-reload && "
               "systemctl reset-failed vaultd.service; systemctl restart vaultd.socket")
    r = box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1")
    assert r.returncode == 0, r.stderr


def test_upgrade_restarts_a_running_daemon(box):
    pid = main_pid(box)
    assert pid
    box.sh("dpkg -i %s" % shlex.quote(box.deb), timeout=120)  # same version: configure with an old one
    box.wait_for("the restart", lambda: main_pid(box) not in (0, pid))
    assert box.show("vaultd.socket", "ActiveState") == "active"
    r = box.as_user(SERVICE_USER, "vaultctl", "get", "payments", "P-1")
    assert r.returncode == 0 and r.stdout == "dossier P-1"
    assert box.sh("cat /etc/vaultd/vaultd.policy").stdout.endswith("collections cases\n")  # a conffile


def test_purge_keeps_the_vault_and_the_key(box):
    box.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y vaultd")
    box.sh("test ! -e /usr/sbin/vaultd && test ! -e /etc/vaultd/vaultd.policy")
    # Removal stopped the socket and the daemon.
    assert box.sh("pgrep -x vaultd", check=False).returncode == 1
    assert box.sh("test -e /run/vaultd/vaultd.sock", check=False).returncode == 1
    # The vault and its key outlive the package.
    box.sh("test -s /var/lib/vaultd/data.mdb && test -s /etc/vaultd/root.key")
