"""Role checks as other uids (setpriv): every denial answered and audited."""
import pytest

from conftest import Vault, audit_lines

SERVICE, AUDITOR, STRANGER = 65534, 4242, 4343

POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections tre-em,ho-ngheo
allow user %d role auditor
""" % (SERVICE, AUDITOR)


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
