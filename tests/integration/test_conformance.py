"""Generic varlink clients work unchanged against vaultd (issue #6 §2).

The client is the reference Go implementation as Debian ships it
(golang-github-varlink-go-dev): its varlink.Connection, its IDL parser, and
bindings its generator makes from docs/*.varlink at test time. The Go
program lives in tests/conformance/ (README.md there); it is built once per
session, offline, into a temporary directory, then run in groups against
real daemons set up here. Every reply it receives passes its validator,
which checks it against the interface descriptions the daemon serves.

Each test below asserts on the lines ("ok NAME" / "FAIL NAME: why") of the
checks it stands for. A missing Go toolchain or varlink package is a
failure, not a skip.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO, Vault, small_disk
from test_integrity import alter_audit_line, dump, find_version, flip_ciphertext, load

CONFORMANCE = os.path.join(REPO, "tests", "conformance")
MAX_BODY = 65536
SERVICE, STRANGER = 65534, 4343

ROLES_POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections conf-svc
""" % SERVICE


class Build:
    def __init__(self, out):
        self.out = out
        self.path = None
        self.error = None

    def require(self):
        if self.error:
            pytest.fail(self.error, pytrace=False)
        return self.path


@pytest.fixture(scope="session")
def conformance_build():
    """tests/conformance/build.sh, once per session, into a temporary
    directory other uids can read (the role checks run the program as them)."""
    out = tempfile.mkdtemp(prefix="vaultd-conformance-")
    os.chmod(out, 0o755)
    b = Build(out)
    try:
        r = subprocess.run(["sh", os.path.join(CONFORMANCE, "build.sh"), out], capture_output=True,
                           text=True, encoding="utf-8", errors="replace", timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        b.error = "building the Go conformance client failed: %s" % e
    else:
        path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.returncode != 0 or not os.access(path, os.X_OK):
            b.error = ("building the Go conformance client (tests/conformance/build.sh) failed, "
                       "exit %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
        else:
            b.path = path
    yield b
    shutil.rmtree(out, ignore_errors=True)


class Result:
    """One run of the Go program: its checks by name."""

    def __init__(self, group, cmd, proc=None, error=None, notes=()):
        self.group = group
        self.output = (proc.stdout + proc.stderr) if proc else ""
        self.returncode = proc.returncode if proc else None
        self.error = error
        self.notes = list(notes)
        self.checks = {}
        current = None
        for line in self.output.splitlines():
            m = re.match(r"(ok|FAIL) (\S+?)(?::|$)", line)
            if m:
                current = m.group(2)
                self.checks[current] = [m.group(1) == "ok", line]
            elif line.startswith("#   ") and current:
                self.checks[current].append(line)
        self.seen_errors = set(re.findall(r"^# seen-error (\S+)$", self.output, re.M))
        self.replied = {m for m, n in re.findall(r"^# replied (\S+) (\d+)$", self.output, re.M) if int(n) > 0}
        self.cmd = " ".join(cmd)

    def report(self, names):
        """Failure text for the named checks, or "" when all passed."""
        bad = []
        if self.error:
            bad.append(self.error)
        for n in names:
            c = self.checks.get(n)
            if c is None:
                bad.append("check %s did not run (%s, exit %s); output ends:\n%s"
                           % (n, self.cmd, self.returncode, "\n".join(self.output.splitlines()[-30:])))
            elif not c[0]:
                bad.append("\n".join(c[1:]))
        if bad:
            bad += self.notes
        return "\n".join(bad)


def run_go(binary, group, vault, uid=None, extra=()):
    cmd = [binary, "-socket", vault.sock, "-group", group, "-max-body", str(MAX_BODY)] + list(extra)
    if uid is not None:
        cmd = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"] + cmd
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=600)
    except subprocess.TimeoutExpired as e:
        return Result(group, cmd, error="%s timed out: %s" % (" ".join(cmd), e.stdout))
    return Result(group, cmd, proc)


def stopped(vault, results):
    rc = vault.stop()
    if rc not in (0, None):
        for r in results:
            r.error = (r.error or "") + "vaultd did not stop cleanly (exit %s): %s" % (rc, vault.read_log()[-2000:])


def setup_main(binary, root):
    v = Vault(root, extra_args=["--max-body", str(MAX_BODY)])
    v.start()
    r = run_go(binary, "main", v, extra=["-policy", v.policy])
    stopped(v, [r])
    return {"main": r}


def setup_roles(binary, root):
    v = Vault(root, policy=ROLES_POLICY)
    v.start()
    rs = {"denied-service": run_go(binary, "denied-service", v, uid=SERVICE),
          "denied-stranger": run_go(binary, "denied-stranger", v, uid=STRANGER)}
    stopped(v, rs.values())
    return rs


def setup_integrity(binary, root):
    # As tests/integration/test_integrity.py: alter the stopped vault's
    # LMDB with mdb_dump/mdb_load, then start it again.
    v = Vault(root)
    v.start()
    for i in range(1, 5):
        v.ctl("put", "integ", "INTEG-%d" % i, "-", input=b"a" * 100, check=True)
    v.stop()
    flip_ciphertext(v, "integ", "INTEG-1", 1)
    alter_audit_line(v, 3, b'"INTEG-3"', b'"INTEG-9"')  # seq 3 is the third put
    v.start()
    r = run_go(binary, "integrity", v)
    stopped(v, [r])
    return {"integrity": r}


def setup_records_inconsistent(binary, root):
    # As tests/integration/test_metadata.py: meta/META-1's head rolled back
    # from version 2 to 1 on the stopped vault, its trail untouched.
    v = Vault(root)
    v.start()
    for rid, n in (("META-1", 2), ("META-2", 1)):
        for i in range(n):
            v.ctl("put", "meta", rid, "-", input=b"v%d" % i, check=True)
    v.stop()
    heads = dump(v.state, "heads")
    versions = dump(v.state, "versions")
    _, val = find_version(versions, "meta", "META-1", 1)
    v1_time = bytes.fromhex(versions[val].strip())[1:9]
    key = (b"meta\0META-1").hex()
    for i in range(heads.index("HEADER=END") + 1, heads.index("DATA=END"), 2):
        if heads[i].strip() == key:
            old = bytes.fromhex(heads[i + 1].strip())
            heads[i + 1] = " " + ((1).to_bytes(8, "big") + old[8:17] + v1_time).hex()
    load(v.state, "heads", heads)
    v.start()
    r = run_go(binary, "records-inconsistent", v)
    stopped(v, [r])
    return {"records-inconsistent": r}


def setup_storage_full(binary, root):
    # As test_limits.py's full-disk test: the vault on a 24 MiB tmpfs.
    with small_disk(os.path.join(root, "small"), "24m") as mnt:
        v = Vault(mnt)
        v.start()
        r = run_go(binary, "storage-full", v)
        stopped(v, [r])
    return {"storage-full": r}


# The sealed group's passphrase: not ASCII, so that it also travels as
# UTF-8 JSON.
PASSPHRASE = "mật khẩu — conformance 2026"


def setup_sealed(binary, root):
    # As test_sealed.py: a key file sealed by a passphrase, so the vault
    # starts sealed.
    pf = os.path.join(root, "passphrase")
    with open(pf, "w", encoding="utf-8") as f:
        f.write(PASSPHRASE + "\n")
    os.chmod(pf, 0o600)
    v = Vault(root, key_args=["--passphrase-file", pf])
    v.start()
    r = run_go(binary, "sealed", v, extra=["-passphrase-file", pf])
    stopped(v, [r])
    return {"sealed": r}


SETUPS = {"main": setup_main, "denied-service": setup_roles, "denied-stranger": setup_roles,
          "integrity": setup_integrity, "records-inconsistent": setup_records_inconsistent,
          "storage-full": setup_storage_full, "sealed": setup_sealed}
GROUPS = ("main", "denied-service", "denied-stranger", "integrity", "records-inconsistent", "storage-full",
          "sealed")


class Runs:
    """Each group's run, made on first use and kept for the module."""

    def __init__(self, build):
        self.build = build
        self.results = {}

    def group(self, name):
        binary = self.build.require()
        if name not in self.results:
            root = tempfile.mkdtemp(prefix="vaultd-conf-")
            os.chmod(root, 0o755)  # other uids must reach the socket
            try:
                self.results.update(SETUPS[name](binary, root))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        return self.results[name]

    def check(self, group, *names):
        text = self.group(group).report(names)
        if text:
            pytest.fail(text, pytrace=False)


@pytest.fixture(scope="module")
def runs(conformance_build):
    return Runs(conformance_build)


# Which Go checks each test stands for (test_go_every_check_asserted keeps
# this complete).
CHECKS = {
    "validator": ("main", ["validator_rejects_bad_replies"]),
    "null_parameters": ("main", ["getinfo_null_parameters", "null_parameters_methods_without_input",
                                 "null_parameters_with_input"]),
    "idl": ("main", ["idl_docs_parse", "idl_served_parse", "served_descriptions_match_docs",
                     "getinterfacedescription_errors"]),
    "records": ("main", ["bindings_records_put_get", "bindings_records_delete", "bindings_records_list",
                         "bindings_records_history"]),
    "audit_admin": ("main", ["bindings_audit_head", "bindings_audit_verify", "bindings_admin_status",
                             "bindings_admin_reload_policy"]),
    "verify_one_per_caller": ("main", ["audit_verify_one_per_caller"]),
    "records_errors": ("main", ["records_not_found", "records_conflict", "records_invalid_parameter",
                                "records_too_large"]),
    "audit_admin_errors": ("main", ["audit_invalid_parameter", "audit_invalid_parameter_time",
                                    "admin_invalid_parameter"]),
    "keys": ("main", ["bindings_admin_list_keys", "bindings_admin_rotate_key", "bindings_admin_rewrap",
                      "bindings_admin_rotate_signing_key",
                      "bindings_admin_retire_key"]),
    "seal_plain_key": ("main", ["seal_plain_key"]),
    "key_in_use": ("main", ["key_in_use"]),
    "key_rotation": ("main", ["key_rotation_lifecycle"]),
    "keys_invalid_parameter": ("main", ["rewrap_invalid_limit", "retire_key_invalid_version"]),
    "protocol_errors": ("main", ["protocol_method_not_found", "protocol_interface_not_found",
                                 "protocol_expected_more", "protocol_malformed_messages"]),
    "service_invalid_parameter": ("main", ["varlink_invalid_parameter_only_parameter"]),
    "oneway_calls": ("main", ["oneway_call_executed_no_reply", "oneway_method_errors"]),
    "oneway_protocol": ("main", ["oneway_protocol_errors", "oneway_with_upgrade"]),
    "oneway_streamed": ("main", ["oneway_streamed_methods"]),
    "upgrade": ("main", ["upgrade_rejected", "upgrade_rejected_every_method", "upgrade_not_executed"]),
    "streaming": ("main", ["stream_export", "stream_export_range", "stream_export_by_time",
                           "more_on_plain_methods"]),
    "pipelining": ("main", ["pipeline_puts_in_order", "pipeline_mixed_methods", "pipeline_raw_single_write"]),
    "backup": ("main", ["backup_without_fd", "backup_with_fd"]),
    "prove": ("main", ["prove_inclusion_and_consistency_check_with_go_tlog", "prove_invalid_parameters"]),
    "cosign": ("main", ["audit_add_cosignatures"]),
    "collections": ("main", ["collections_settings", "collections_json_content",
                             "collections_implicit_and_list", "names_unicode_nfc",
                             "records_hold_due_dispose", "records_find",
                             "records_private_ids", "records_private_name", "records_rebuild_index"]),
    "coverage": ("main", ["every_method_replied"]),
    "denied_service": ("denied-service", ["denied_records_methods", "denied_audit_methods",
                                          "denied_admin_reload", "denied_admin_keys", "denied_admin_seal",
                                          "denied_admin_backup", "service_allowed_calls"]),
    "oneway_denied": ("denied-service", ["oneway_denied"]),
    "denied_stranger": ("denied-stranger", ["stranger_denied", "stranger_service_interface"]),
    "integrity": ("integrity", ["integrity_record", "integrity_trail", "integrity_status"]),
    "oneway_integrity": ("integrity", ["oneway_integrity"]),
    "records_inconsistent": ("records-inconsistent", ["records_inconsistent"]),
    "storage_full": ("storage-full", ["storage_full"]),
    "sealed": ("sealed", ["sealed_status", "sealed_records", "sealed_admin_keys"]),
    "sealed_audit": ("sealed", ["sealed_audit_head_verify"]),
    "sealed_audit_export": ("sealed", ["sealed_audit_export"]),
    "unseal_backoff": ("sealed", ["unseal_wrong_passphrase"]),
    "unseal_seal": ("sealed", ["unsealed_records_work", "seal_again"]),
    "sealed_upgrade": ("sealed", ["sealed_upgrade_rejected"]),
    "sealed_oneway": ("sealed", ["oneway_unseal_seal"]),
    "sealed_coverage": ("sealed", ["sealed_methods_replied"]),
}


def check(runs, key):
    group, names = CHECKS[key]
    runs.check(group, *names)


def test_go_client_builds_offline(conformance_build):
    """The generator builds from Debian's source, makes bindings of every
    docs/*.varlink, and the program builds against them (GOPATH mode,
    GOPROXY=off)."""
    path = conformance_build.require()
    gen = os.path.join(conformance_build.out, "gopath", "src", "vaultdconformance", "gen")
    for f in os.listdir(os.path.join(REPO, "docs")):
        if f.endswith(".varlink"):
            pkg = f[:-len(".varlink")].replace(".", "")
            assert os.path.exists(os.path.join(gen, pkg, pkg + ".go")), "no bindings for " + f
    assert os.access(path, os.X_OK)


def test_go_validator_rejects_bad_replies(runs):
    """The Go side's reply validator is not a rubber stamp."""
    check(runs, "validator")


def test_go_getinfo_null_parameters(runs):
    """Item 1: "parameters": null (what the Go client sends for methods
    without input) is {}."""
    check(runs, "null_parameters")


def test_go_idl_parses_every_description(runs):
    """Item 2: docs/*.varlink and every served description parse with the
    Go IDL parser, and they are the same text."""
    check(runs, "idl")


def test_go_bindings_records(runs):
    check(runs, "records")


def test_go_collections(runs):
    """Collections with settings, json content, implicit collections, NFC
    names (issue #13)."""
    check(runs, "collections")


def test_go_bindings_audit_admin(runs):
    check(runs, "audit_admin")


def test_go_audit_verify_one_per_caller(runs):
    """A second Verify by the same caller while its first runs is
    audit.TryLater with retry_after and a reason; Verify works again once
    the first is answered."""
    check(runs, "verify_one_per_caller")


def test_go_records_declared_errors(runs):
    """Item 5: NotFound, Conflict, InvalidParameter, TooLarge with exactly
    their declared parameters."""
    check(runs, "records_errors")


def test_go_audit_admin_invalid_parameter(runs):
    """from_seq past the end, a malformed since or since with from_seq are
    audit.InvalidParameter naming the parameter; a policy that does not
    parse is admin.InvalidParameter."""
    check(runs, "audit_admin_errors")


def test_go_bindings_keys(runs):
    """ListKeys, RotateKey, Rewrap and RetireKey through the generated
    bindings, each reply as declared."""
    check(runs, "keys")


def test_go_seal_plain_key(runs):
    """Seal with a plain (unsealed) key file is admin.InvalidParameter
    "key"; the vault keeps serving."""
    check(runs, "seal_plain_key")


def test_go_key_in_use(runs):
    """RetireKey of the current KEK, and of an old KEK that still wraps data
    keys (RotateKey without Rewrap), is admin.KeyInUse with its declared
    fields; the KEK stays."""
    check(runs, "key_in_use")


def test_go_key_rotation_keeps_records(runs):
    """RotateKey, Put, Rewrap until done, RetireKey of the old KEK: the old
    KEK wraps nothing before it goes, and every record, old versions
    included, still reads back."""
    check(runs, "key_rotation")


def test_go_key_admin_invalid_parameter(runs):
    """Rewrap's limit outside 1-10000 and RetireKey of no such version are
    admin.InvalidParameter naming the parameter."""
    check(runs, "keys_invalid_parameter")


def test_go_protocol_errors(runs):
    """MethodNotFound, InterfaceNotFound, ExpectedMore, malformed messages."""
    check(runs, "protocol_errors")


def test_go_service_invalid_parameter_only_parameter(runs):
    """Item 5: org.varlink.service.InvalidParameter carries only `parameter`."""
    check(runs, "service_invalid_parameter")


def test_go_oneway_executed_no_reply(runs):
    """Item 3: a oneway call is executed; neither it nor a method error of
    it is answered."""
    check(runs, "oneway_calls")


def test_go_oneway_protocol_errors(runs):
    """Item 3: oneway calls get no MethodNotFound, InterfaceNotFound,
    ExpectedMore or upgrade error."""
    check(runs, "oneway_protocol")


def test_go_oneway_streamed_methods(runs):
    """Item 3: oneway Verify and Export (even with more) send nothing."""
    check(runs, "oneway_streamed")


def test_go_upgrade_rejected(runs):
    """Item 4: upgrade is InvalidParameter "upgrade", never accepted or run."""
    check(runs, "upgrade")


def test_go_streaming_export(runs):
    """Item 6: Export streams several replies with continues; since/until
    (RFC 3339 UTC) stream the lines of that period."""
    check(runs, "streaming")


def test_go_pipelining(runs):
    """Item 6: calls sent before any reply is read are answered in order."""
    check(runs, "pipelining")


def test_go_sealed_vault(runs):
    """A vault whose key file is sealed by a passphrase starts sealed:
    Status state "sealed"; every records method is records.Sealed and
    RotateKey, Rewrap and RetireKey are admin.Sealed, without
    parameters; a oneway Put gets no reply and writes nothing."""
    check(runs, "sealed")


def test_go_sealed_audit_trail_readable(runs):
    """Sealed, Head and Verify answer."""
    check(runs, "sealed_audit")


def test_go_sealed_audit_export(runs):
    """Sealed, Export streams the trail: up to the first checkpoint, and
    the whole of it."""
    check(runs, "sealed_audit_export")


def test_go_unseal_backoff(runs):
    """Unseal with a wrong passphrase is WrongPassphrase with retry_after
    1, then 2; a retry before then (another connection, the right
    passphrase) is TryLater; after the wait the right passphrase unseals."""
    check(runs, "unseal_backoff")


def test_go_unseal_seal(runs):
    """Unsealed, records work; Seal makes records Sealed again; Unseal
    serves the same records."""
    check(runs, "unseal_seal")


def test_go_sealed_upgrade_rejected(runs):
    """Unseal and Seal with upgrade are InvalidParameter "upgrade" and not
    executed."""
    check(runs, "sealed_upgrade")


def test_go_oneway_unseal(runs):
    """Oneway Unseal and Seal get no reply and are executed."""
    check(runs, "sealed_oneway")


def test_go_backup(runs):
    """Backup through the generated bindings (no descriptor) is
    InvalidParameter "fd"; with a new file passed with the call (SCM_RIGHTS,
    through the tap) it writes the copy and replies as declared; a file that
    is not empty is refused."""
    check(runs, "backup")


def test_go_prove(runs):
    """Prove's inclusion proofs (first, last and middle lines) pass Go's
    tlog.CheckRecord and its consistency proof tlog.CheckTree, with roots
    that agree between the calls; changed proofs fail; a call without
    exactly one of seq, old_size, collection/id, or with sizes outside the
    trail, is InvalidParameter."""
    check(runs, "prove")


def test_go_add_cosignatures(runs):
    """AddCosignatures stores a cosignature/v1 made with Go's ed25519 and
    note.Sign; Prove's checkpoint then carries it and Go's note.Open
    verifies it with the witness's key; a checkpoint the vault never
    signed is UnknownCheckpoint, and a note without a cosignature, not a
    note, or a plain note signature is InvalidParameter."""
    check(runs, "cosign")


def test_go_every_method_replied(runs):
    """Every method of every served interface gave a reply that validates:
    in the main group, but Unseal and Seal, which need a sealed key file,
    in the sealed group; and, across the groups, every method the docs
    declare."""
    check(runs, "coverage")
    check(runs, "sealed_coverage")
    replied = set()
    for group in GROUPS:
        replied |= runs.group(group).replied
    missing = sorted(declared_methods() - replied)
    assert not missing, "no valid reply seen from %s" % missing


def test_go_access_denied_service(runs):
    check(runs, "denied_service")


def test_go_oneway_access_denied(runs):
    check(runs, "oneway_denied")


def test_go_access_denied_stranger(runs):
    check(runs, "denied_stranger")


def test_go_integrity_errors(runs):
    """records.IntegrityError and audit.IntegrityError with their declared
    fields, after tampering with the stored data."""
    check(runs, "integrity")


def test_go_oneway_integrity(runs):
    check(runs, "oneway_integrity")


def test_go_records_inconsistent(runs):
    """audit.RecordsInconsistent with its declared fields, naming the
    record whose head was rolled back on disk; Get of that record is
    records.IntegrityError."""
    check(runs, "records_inconsistent")


def test_go_storage_full(runs):
    check(runs, "storage_full")


# Declared errors no test can provoke on purpose:
# - InternalError (each io.vaultd interface): an unexpected failure, by
#   definition not reachable from the socket; its shape is still checked
#   by the validator should one ever come.
# - org.varlink.service.MethodNotImplemented: vaultd implements every
#   method it declares.
# - org.varlink.service.PermissionDenied: vaultd answers its interfaces'
#   own AccessDenied instead, and org.varlink.service answers anyone.
UNPROVOKABLE = {"io.vaultd.records.InternalError", "io.vaultd.audit.InternalError",
                "io.vaultd.admin.InternalError", "org.varlink.service.MethodNotImplemented",
                "org.varlink.service.PermissionDenied"}


def declared(kind):
    names = set()
    for f in os.listdir(os.path.join(REPO, "docs")):
        if f.endswith(".varlink"):
            with open(os.path.join(REPO, "docs", f)) as fh:
                text = fh.read()
            iface = re.search(r"^interface (\S+)", text, re.M).group(1)
            names |= {iface + "." + e for e in re.findall(r"^%s (\w+)" % kind, text, re.M)}
    return names


def declared_errors():
    return declared("error")


def declared_methods():
    return declared("method")


def test_go_every_declared_error_provoked(runs):
    """Across the groups, every declared error that can be provoked came
    back (and validated) at least once."""
    seen = set()
    for group in GROUPS:
        seen |= runs.group(group).seen_errors
    missing = sorted(declared_errors() - UNPROVOKABLE - seen)
    assert not missing, "never provoked (or never valid): %s" % missing


def test_go_every_check_asserted(conformance_build):
    """Every check the Go program has is asserted by one test here."""
    r = subprocess.run([conformance_build.require(), "-list"], capture_output=True, text=True,
                       encoding="utf-8", errors="replace", timeout=60)
    assert r.returncode == 0, r.stderr
    listed = set(re.findall(r"^  (\S+)", r.stdout, re.M))
    asserted = {n for _, names in CHECKS.values() for n in names}
    assert listed == asserted, "checks not asserted: %s; asserted but not listed: %s" % (
        sorted(listed - asserted), sorted(asserted - listed))
