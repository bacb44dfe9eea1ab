"""Export and Verify on the reader thread (docs/architecture.md, "Threads
in the worker"): one Verify per caller at a time, the refusal audited, and
other calls answered while a long read runs."""
import json
import time

from conftest import Client


def wait_for_lines(vault, at_least):
    """Polls Head until the trail holds at least that many lines (Head's
    own lines count too), with a deadline."""
    probe = Client(vault.sock)
    deadline = time.monotonic() + 10
    while True:
        lines = probe.call("io.vaultd.audit.Head")["parameters"]["lines"]
        if lines >= at_least:
            return
        assert time.monotonic() < deadline, "the trail stays at %d lines" % lines
        at_least += 1


def drain_export(c):
    while True:
        r = c.recv()
        assert "error" not in r, r
        if not r.get("continues"):
            return


def test_second_verify_of_a_caller_is_try_later_and_audited(vault):
    c = Client(vault.sock)
    c.put_many("r", 8000, records=50)  # an export longer than a connection's buffers
    base = c.call("io.vaultd.audit.Head")["parameters"]["lines"]
    # An Export nobody reads holds back the Verify behind it on its
    # connection: that Verify is logged (its claim taken), then waits.
    held = Client(vault.sock, timeout=60)
    held.send("io.vaultd.audit.Export", more=True)
    held.send("io.vaultd.audit.Verify")
    wait_for_lines(vault, base + 3)
    other = Client(vault.sock)
    r = other.call("io.vaultd.audit.Verify")
    assert r.get("error") == "io.vaultd.audit.TryLater", r
    assert r["parameters"]["retry_after"] >= 1 and "one at a time" in r["parameters"]["reason"]
    # Other calls are answered meanwhile.
    assert other.call("org.varlink.service.GetInfo")["parameters"]["product"] == "vaultd"
    drain_export(held)
    first = held.recv()
    assert "error" not in first and first["parameters"]["lines"] > base, first
    # Its claim ended with its reply: the caller may verify again.
    assert "error" not in other.call("io.vaultd.audit.Verify")
    # The refusal has its audit line.
    out = vault.ctl("audit", "export", check=True)
    refused = [json.loads(l) for l in out.stdout_text.splitlines()
               if '"op":"audit.verify"' in l and '"result":"error"' in l]
    assert len(refused) == 1 and refused[0]["error"] == "TryLater", refused


def test_export_streams_while_other_calls_are_answered(vault):
    c = Client(vault.sock)
    c.put_many("r", 8000, records=50)
    held = Client(vault.sock, timeout=60)
    held.send("io.vaultd.audit.Export", more=True)
    first = held.recv()  # the export is under way, and nobody reads the rest yet
    assert first.get("continues") and first["parameters"]["lines"][0].startswith('{"format"')
    other = Client(vault.sock)
    for _ in range(20):
        assert "error" not in other.call("io.vaultd.records.Get", {"collection": "r", "id": "R-1"})
    lines = list(first["parameters"]["lines"])
    while True:
        r = held.recv()
        assert "error" not in r, r
        lines += r["parameters"]["lines"]
        if not r.get("continues"):
            break
    header = json.loads(lines[0])
    audit = [l for l in lines[1:] if not l.startswith('{"checkpoint"')]
    assert len(audit) == header["last_seq"] - header["first_seq"] + 1 >= 8000
