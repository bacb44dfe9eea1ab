"""Role checks as other uids (setpriv): every denial answered and audited."""
import json
import os

import pytest

from conftest import Vault, audit_lines, calls_as
from cosigners import Cosigner, cosigned, note_text

SERVICE, AUDITOR, STRANGER = 65534, 4242, 4343
# The witness poster's roles: the cosigner alone (by uid, and by a group as
# the packaged policy grants it), and a uid granted the cosigner role first
# and the auditor role by a later rule.
COSIGNER, WITNESS_GID, POSTER, BOTH = 4747, 4545, 4646, 4848

POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections tre-em,ho-ngheo
allow user %d role auditor
allow user %d role cosigner
allow group %d role cosigner
allow user %d role cosigner
allow user %d role auditor
""" % (SERVICE, AUDITOR, COSIGNER, WITNESS_GID, BOTH, BOTH)


@pytest.fixture
def rvault(vault_dir):
    v = Vault(vault_dir, policy=POLICY)
    v.start()
    v.ctl("put", "tre-em", "TE-1", "-", input=b"child dossier", check=True)
    v.ctl("put", "nguoi-co-cong", "NCC-1", "-", input=b"veteran dossier", check=True)
    yield v
    assert v.stop() == 0


def denied(r):
    return r.returncode == 5 and "AccessDenied" in r.stderr


def test_service_sees_only_its_collections(rvault):
    v = rvault
    assert v.ctl("get", "tre-em", "TE-1", uid=SERVICE).stdout == b"child dossier"
    assert v.ctl("put", "ho-ngheo", "HN-1", "-", input=b"x", uid=SERVICE).returncode == 0
    assert denied(v.ctl("get", "nguoi-co-cong", "NCC-1", uid=SERVICE))
    assert denied(v.ctl("put", "nguoi-co-cong", "NCC-2", "-", input=b"x", uid=SERVICE))
    assert denied(v.ctl("list", "nguoi-co-cong", uid=SERVICE))
    assert denied(v.ctl("audit", "export", uid=SERVICE))
    assert denied(v.ctl("policy", "reload", uid=SERVICE))
    lines = audit_lines(v.export())
    mine = [e for e in lines if e["actor"]["uid"] == SERVICE]
    assert [(e["op"], e.get("collection"), e["result"]) for e in mine] == [
        ("records.get", "tre-em", "ok"),
        ("records.put", "ho-ngheo", "ok"),
        ("records.get", "nguoi-co-cong", "denied"),
        ("records.put", "nguoi-co-cong", "denied"),
        ("records.list", "nguoi-co-cong", "denied"),
        ("audit.export", None, "denied"),
        ("admin.reload-policy", None, "denied"),
    ]
    assert all(e["actor"]["role"] == "service" for e in mine)
    assert all(e["error"] == "AccessDenied" for e in mine if e["result"] == "denied")


def test_auditor_reads_trail_never_bodies(rvault):
    v = rvault
    assert v.ctl("audit", "head", uid=AUDITOR).returncode == 0
    assert v.ctl("audit", "verify", uid=AUDITOR).returncode == 0
    r = v.ctl("audit", "export", uid=AUDITOR)
    assert r.returncode == 0 and b"records.put" in r.stdout
    assert b"child dossier" not in r.stdout and b"veteran dossier" not in r.stdout
    for args in (["get", "tre-em", "TE-1"], ["history", "tre-em", "TE-1"], ["list", "tre-em"],
                 ["put", "tre-em", "TE-9", "-"], ["delete", "tre-em", "TE-1"]):
        assert denied(v.ctl(*args, input=b"x", uid=AUDITOR)), args
    assert v.ctl("status", uid=AUDITOR).returncode == 0
    lines = audit_lines(v.export())
    den = [e for e in lines if e["actor"]["uid"] == AUDITOR and e["result"] == "denied"]
    assert len(den) == 5 and all(e["actor"]["role"] == "auditor" for e in den)


def test_stranger_gets_nothing(rvault):
    v = rvault
    for args in (["status"], ["get", "tre-em", "TE-1"], ["audit", "head"]):
        assert denied(v.ctl(*args, uid=STRANGER)), args
    lines = audit_lines(v.export())
    den = [e for e in lines if e["actor"]["uid"] == STRANGER]
    assert [e["op"] for e in den] == ["admin.status", "records.get", "audit.head"]
    assert all(e["result"] == "denied" and e["actor"]["role"] is None for e in den)


def test_denial_needs_no_valid_parameters(rvault):
    # A denied caller learns nothing, not even whether its parameters were valid.
    r = rvault.ctl("get", "BAD NAME", "x", uid=STRANGER)
    assert denied(r)


def signed_size(v):
    """Signs a checkpoint (an export does) and returns its size and note."""
    lines = v.export().split(b"\n")
    note = [json.loads(x)["checkpoint"] for x in lines[1:] if x and b'"checkpoint"' in x][-1]
    return int(note.split("\n")[1]), note


def test_cosigner_carries_checkpoints_to_witnesses_and_reads_nothing(rvault):
    v = rvault
    size, note = signed_size(v)
    # What the poster does: a request from size 0 and from the last size,
    # a witness's cosignature brought back.
    r = v.ctl("audit", "witness-request", "--since", "0", uid=COSIGNER)
    assert r.returncode == 0 and r.stdout_text.startswith("old 0\n\n" + note.split("\n\n")[0]), r.stderr
    path = os.path.join(v.root, "cosigned.txt")
    with open(path, "w") as f:
        f.write(cosigned(note, Cosigner("w.example/w").line(note_text(note))))
    os.chmod(path, 0o644)
    r = v.ctl("audit", "cosign", "import", path, uid=COSIGNER)
    assert r.returncode == 0 and "1 cosignatures stored" in r.stdout_text, r.stderr
    v.ctl("put", "tre-em", "TE-2", "-", input=b"second dossier", check=True)
    later, _ = signed_size(v)
    r = v.ctl("audit", "witness-request", "--since", str(size), uid=COSIGNER)
    assert r.returncode == 0 and r.stdout_text.startswith("old %d\n" % size), r.stderr
    assert "\n%d\n" % later in r.stdout_text
    # Status as every role gets it: the state and the version, no counters.
    r = v.ctl("status", uid=COSIGNER, json_out=True)
    assert r.returncode == 0 and sorted(r.json) == ["state", "version"], r.stdout_text
    # Nothing of the trail, the collections or the records.
    refused = [["audit", "export"], ["audit", "verify"], ["audit", "head"], ["audit", "prove", "--seq", "0"],
               ["audit", "prove", "--record", "tre-em", "TE-1"], ["audit", "resolve", "tre-em", "ps-x",
                                                                   "--reason", "x"],
               ["collection", "list"], ["hold", "list"], ["records", "due", "tre-em"], ["get", "tre-em", "TE-1"],
               ["policy", "reload"]]
    for args in refused:
        assert denied(v.ctl(*args, uid=COSIGNER)), args
    mine = [e for e in audit_lines(v.export()) if e["actor"]["uid"] == COSIGNER]
    assert [(e["op"], e["result"]) for e in mine] == [
        ("audit.prove", "ok"), ("audit.add-cosignatures", "ok"), ("audit.prove", "ok"),
        ("audit.export", "denied"), ("audit.verify", "denied"), ("audit.head", "denied"),
        ("audit.prove", "denied"), ("audit.prove", "denied"), ("audit.resolve", "denied"),
        ("records.list-collections", "denied"), ("records.list-holds", "denied"), ("records.due", "denied"),
        ("records.get", "denied"), ("admin.reload-policy", "denied")]
    assert all(e["actor"]["role"] == "cosigner" for e in mine)
    assert all(e["error"] == "AccessDenied" for e in mine if e["result"] == "denied")
    # A record's proof asked and denied names the record, as any denial.
    assert [e.get("id") for e in mine if e["op"] == "audit.prove"] == [None, None, None, "TE-1"]


def test_cosigner_proves_consistency_only(rvault):
    v = rvault
    size, _ = signed_size(v)
    calls = [("io.vaultd.audit.Prove", {"old_size": 1, "size": size}),
             ("io.vaultd.audit.Prove", {"old_size": 1, "seq": None, "collection": None}),
             ("io.vaultd.audit.Prove", {"seq": 0}),
             ("io.vaultd.audit.Prove", {"seq": 0, "size": size}),
             ("io.vaultd.audit.Prove", {"old_size": 1, "seq": 0}),
             ("io.vaultd.audit.Prove", {"collection": "tre-em", "id": "TE-1"}),
             ("io.vaultd.audit.Prove", {"old_size": 1, "collection": "tre-em", "id": "TE-1"}),
             ("io.vaultd.audit.Prove", {"old_size": 1, "from_version": 1}),
             ("io.vaultd.audit.Prove", {}),
             ("io.vaultd.audit.Resolve", {"collection": "tre-em", "pseudonym": "ps-x", "reason": "x"}),
             ("io.vaultd.records.ListCollections", {}),
             ("io.vaultd.audit.Head", {})]
    # As the packaged policy grants it: through a supplementary group.
    replies = calls_as(v.sock, POSTER, calls, groups=[WITNESS_GID])
    errors = [r.get("error") for r in replies]
    assert errors[:2] == [None, None], replies[:2]
    assert replies[0]["parameters"]["old_size"] == 1 and replies[0]["parameters"]["checkpoint"]
    assert "lines" not in replies[0]["parameters"]
    assert errors[2:9] == ["io.vaultd.audit.AccessDenied"] * 7, replies
    assert errors[9:] == ["io.vaultd.audit.AccessDenied", "io.vaultd.records.AccessDenied",
                          "io.vaultd.audit.AccessDenied"], replies
    mine = [e for e in audit_lines(v.export()) if e["actor"]["uid"] == POSTER]
    assert [e["result"] for e in mine] == ["ok"] * 2 + ["denied"] * 10
    assert all(e["actor"]["role"] == "cosigner" for e in mine)
    # A uid that is also an auditor (by a later rule) is an auditor for the
    # rest: the cosigner's limit is on the role, not on the uid.
    replies = calls_as(v.sock, BOTH, [("io.vaultd.audit.Prove", {"old_size": 1}),
                                      ("io.vaultd.audit.Prove", {"seq": 0})])
    assert [r.get("error") for r in replies] == [None, None], replies
    assert replies[1]["parameters"]["lines"][0]["seq"] == 0
    both = [e for e in audit_lines(v.export()) if e["actor"]["uid"] == BOTH]
    assert [(e["op"], e["actor"]["role"]) for e in both] == [("audit.prove", "cosigner"),
                                                              ("audit.prove", "auditor")]


def test_a_revoked_cosigner_is_denied_at_once(rvault):
    v = rvault
    signed_size(v)
    assert v.ctl("audit", "witness-request", "--since", "0", uid=COSIGNER).returncode == 0
    v.write_policy(POLICY.replace("allow user %d role cosigner\n" % COSIGNER, ""))
    assert v.ctl("policy", "reload").returncode == 0
    assert denied(v.ctl("audit", "witness-request", "--since", "0", uid=COSIGNER))
    # The trail names the rule that went, in the policy's own words.
    reload = [e for e in audit_lines(v.export()) if e["op"] == "admin.reload-policy"][-1]
    assert reload["removed"] == ["allow user %d role cosigner" % COSIGNER], reload


def test_policy_check_knows_the_cosigner(rvault):
    from conftest import REPO
    v = rvault
    # The packaged policy: its poster rule is one of its four.
    shipped = os.path.join(REPO, "policy", "vaultd.policy")
    r = v.ctl("policy", "check", shipped, socket=False, json_out=True)
    assert r.returncode == 0 and r.json["valid"] and r.json["rules"] == 4, r.stdout_text
    assert r.json["read"][3] == "allow group vaultd-witness role cosigner", r.json
    path = os.path.join(v.root, "witness.policy")
    with open(path, "w") as f:
        f.write("allow group %d role cosigner\nallow user %d role auditor,cosigner\n" % (WITNESS_GID, BOTH))
    r = v.ctl("policy", "check", path, socket=False)
    # Each rule as vaultd reads it: roles in their fixed order.
    assert r.returncode == 0 and r.stdout_text == "%s: OK, 2 rules, 0 warnings\n" % path + \
        "  allow group %d role cosigner\n  allow user %d role auditor,cosigner\n" % (WITNESS_GID, BOTH), r.stdout_text
    with open(path, "w") as f:
        f.write("allow group %d role witness\n" % WITNESS_GID)
    r = v.ctl("policy", "check", path, socket=False)
    assert r.returncode == 1 and "line 1: unknown role in 'witness' (roles: admin, auditor, service, cosigner)" \
        in r.stderr, r.stderr
