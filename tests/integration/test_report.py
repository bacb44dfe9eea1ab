"""Issue #11 for people who do not write code: export by local time, filters
for reading, CSV in a real spreadsheet (LibreOffice Calc), and the HTML
report rendered in a real browser (headless Chromium), each from a real
vaultd. The callers have login names as an office gives them (Vietnamese,
with diacritics) and as an attacker chooses them (markup, formulas): vaultd
takes names from /etc/passwd, so its vaultd runs in a private mount
namespace with a passwd of its own; the machine's accounts are untouched."""
import csv
import datetime
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from zoneinfo import ZoneInfo

import pytest

from conftest import VAULTCTL, VAULTD, Client, Vault
from cosigners import Cosigner, cosigned, note_text
from test_evidence import parts, put
from test_integrity import alter_audit_line
from test_witness import import_note, newest

ZONE = "Asia/Ho_Chi_Minh"
VIETNAMESE, FORMULA, MARKUP = 4242, 4243, 4244
NAMES = {VIETNAMESE: "nguyễn-văn-an", FORMULA: "=1+2", MARKUP: "<img src=x onerror=alert(1)>"}
OFFICE_POLICY = """\
allow user root role admin,auditor
allow user root role service collections *
allow user %d role service collections ho-so
allow user %d role service collections ho-so
""" % (VIETNAMESE, FORMULA)
BULK = 1200  # requests enough for a thousands separator in the counts


class OfficeVault(Vault):
    """A vault whose vaultd sees a passwd that also names the test users."""

    def __init__(self, root, **kw):
        self.passwd = os.path.join(root, "passwd")
        with open("/etc/passwd", encoding="utf-8") as f:
            accounts = f.read()
        with open(self.passwd, "w", encoding="utf-8") as f:
            f.write(accounts + "".join("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" % (n, u, u)
                                       for u, n in NAMES.items()))
        super().__init__(root, **kw)

    def start(self, wait=True):
        logf = open(self.log, "ab")
        # The bind mount exists only in vaultd's own mount namespace.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" /etc/passwd && exec "$@"', self.passwd,
             VAULTD, "--state-dir", self.state, "--key-file", self.key, "--policy", self.policy,
             "--socket", self.sock] + self.daemon_user() + self.extra_args,
            stdout=logf, stderr=logf)
        logf.close()
        if wait:
            self.wait_ready()
        return self.proc


def as_user(v, uid, *args, input=None):
    return v.ctl(*args, uid=uid, input=input)


@pytest.fixture(scope="module")
def office():
    """A month's work in small: records written, changed, deleted and read
    by a service with a Vietnamese name, one refused another collection,
    callers with no role knocking, key and policy administration, and a
    bulk import."""
    root = tempfile.mkdtemp(prefix="vaultd-report-")
    os.chmod(root, 0o755)
    v = OfficeVault(root, policy=OFFICE_POLICY)
    v.start()
    try:
        for args in (["put", "ho-so", "NCC-1", "-"], ["put", "ho-so", "NCC-1", "-"],
                     ["put", "ho-so", "NCC-2", "-"], ["delete", "ho-so", "NCC-2"]):
            assert as_user(v, VIETNAMESE, *args, input=b"{}").returncode == 0
        assert as_user(v, VIETNAMESE, "get", "ho-so", "NCC-9").returncode == 6
        assert as_user(v, VIETNAMESE, "put", "tre-em", "TE-1", "-", input=b"{}").returncode == 5
        assert as_user(v, FORMULA, "put", "ho-so", "F-1", "-", input=b"{}").returncode == 0
        for _ in range(3):
            assert as_user(v, MARKUP, "get", "ho-so", "NCC-1").returncode == 5
        v.ctl("key", "rotate", check=True)
        v.ctl("policy", "reload", check=True)
        c = Client(v.sock)
        c.put_many("bulk", BULK, 50)
        c.close()
        v.head = v.ctl("audit", "head", json_out=True).json
        yield v
    finally:
        v.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def local_zone(monkeypatch):
    monkeypatch.setenv("TZ", ZONE)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


def read_csv(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte order mark"
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), "rows must end in CRLF"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# Export by local time.

def wait_next_second():
    time.sleep(1.05 - time.time() % 1.0)


def test_export_by_local_time(vault, local_zone, tmp_path):
    """Three bursts a second apart; --since/--until in Asia/Ho_Chi_Minh
    local time give exactly the middle one, by seq and by time."""
    tz = ZoneInfo(ZONE)
    for i in range(3):
        vault.ctl("put", "c", "A-%d" % i, "-", input=b"x", check=True)
    wait_next_second()
    since = datetime.datetime.now(tz).replace(microsecond=0)
    for i in range(3):
        vault.ctl("put", "c", "B-%d" % i, "-", input=b"x", check=True)
    wait_next_second()
    until = datetime.datetime.now(tz).replace(microsecond=0)
    vault.ctl("put", "c", "C-0", "-", input=b"x", check=True)
    fmt = "%Y-%m-%dT%H:%M:%S"
    period = ["--since", since.strftime(fmt), "--until", until.strftime(fmt)]

    path = str(tmp_path / "period.jsonl")
    r = vault.ctl("audit", "export", "-o", path, *period)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in open(path, "rb").read().split(b"\n")[1:] if l and b'"checkpoint"' not in l]
    ids = [l.get("id") for l in lines]
    assert ids[:3] == ["B-0", "B-1", "B-2"], ids
    header = json.loads(open(path, "rb").readline())
    assert "(seq %d..%d)" % (header["first_seq"], header["last_seq"]) in r.stdout_text
    assert "local time (%s, UTC+07:00)" % ZONE in r.stdout_text
    # The export's own audit line records what was asked, in UTC.
    asked = [l for l in vault.export().split(b"\n") if b'"audit.export"' in l and b'"since"' in l]
    assert json.loads(asked[0])["since"] == since.astimezone(datetime.timezone.utc).strftime(fmt) + ".000000Z"

    csv_path = str(tmp_path / "period.csv")
    r = vault.ctl("audit", "export", "--format", "csv", "-o", csv_path, *period,
                  "--key", vault.ctl("audit", "head", json_out=True).json["verifier_key"])
    assert r.returncode == 0, r.stderr
    rows = read_csv(csv_path)
    assert rows[0][:3] == ["seq", "local time (%s, UTC+07:00)" % ZONE, "UTC time"]
    assert [row[8] for row in rows[1:]] == ["B-0", "B-1", "B-2"]
    for row in rows[1:]:
        utc = datetime.datetime.strptime(row[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        assert row[1] == utc.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    out = r.stdout_text
    assert out.startswith("OK: the export verifies: seq %s.." % rows[1][0]) and "against the key given" in out
    assert "period: seq %s..%s (3 audit lines)" % (rows[1][0], rows[3][0]) in out
    assert "filter: none" in out and "wrote 3 rows to " + csv_path in out


@pytest.mark.parametrize("args,message", [
    (["--since", "2026-13-01"], "--since '2026-13-01' is not a date or time: give YYYY-MM-DD, "),
    (["--since", "01/11/2026"], "--since '01/11/2026' is not a date or time"),
    (["--until", "2026-11-01T24:00"], "--until '2026-11-01T24:00' is not a date or time"),
    (["--since", "2026-02-30"], "--since '2026-02-30': that month has no such day"),
    (["--since", "2026-11-02", "--until", "2026-11-01"], "--until must be later than --since"),
    (["--since", "2026-11-01", "--from-seq", "3"], "give --since or --from-seq, not both"),
    (["--until", "2026-11-01", "--to", "3"], "give --until or --to-seq, not both"),
    (["--user", "an"], "--user, --role, --collection, --id, --op and --result choose what --format csv"),
    (["--format", "xlsx"], "--format is jsonl (the evidence) or csv (for a spreadsheet), not 'xlsx'"),
    (["--format", "csv", "--result", "maybe"], "--result is ok, denied or error, not 'maybe'"),
])
def test_bad_periods_and_filters_are_usage_errors(local_zone, args, message):
    r = subprocess.run([VAULTCTL, "--socket", "/nonexistent.sock", "audit", "export"] + args,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("vaultctl: " + message), r.stderr
    assert "Try 'vaultctl audit export --help'." in r.stderr


def test_time_zone_that_does_not_exist_is_refused(vault, monkeypatch):
    """A TZ naming no zone would make every time UTC without a word."""
    monkeypatch.setenv("TZ", "Asia/Hanoi")
    r = vault.ctl("audit", "export", "--since", "2026-11-01")
    assert r.returncode == 2 and "TZ=Asia/Hanoi names no time zone" in r.stderr
    monkeypatch.setenv("TZ", "ICT-7")  # a POSIX rule needs no file
    r = vault.ctl("audit", "export", "--format", "csv", "--since", "2000-01-01")
    assert r.returncode == 0 and "(ICT-7, UTC+07:00)" in r.stderr, r.stderr


def test_vaultd_checks_since_and_until(vault):
    c = Client(vault.sock)
    first = json.loads(vault.export().split(b"\n")[1])["time"]
    cases = [
        ({"since": "2026-11-01 00:00:00"}, "since", "RFC 3339"),
        ({"since": "2026-11-01T00:00:00+07:00"}, "since", "RFC 3339"),
        ({"since": "2026-02-30T00:00:00Z"}, "since", "RFC 3339"),
        ({"since": "2999-01-01T00:00:00Z"}, "since", "after the last line"),
        ({"until": "2000-01-01T00:00:00Z"}, "until", "before the first line"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until", "after since"),
        ({"since": first, "from_seq": 0}, "since", "not both"),
        ({"until": first, "to_seq": 0}, "until", "not both"),
    ]
    for params, name, reason in cases:
        c.send("io.vaultd.audit.Export", params, more=True)
        r = c.recv()
        assert r.get("error") == "io.vaultd.audit.InvalidParameter", (params, r)
        assert r["parameters"]["parameter"] == name and reason in r["parameters"]["reason"], (params, r)
    c.close()


# CSV: filters, injection, Vietnamese names through a real spreadsheet.

def test_csv_filters_never_narrow_the_verified_range(office, tmp_path):
    path = str(tmp_path / "an.csv")
    r = office.ctl("audit", "export", "--format", "csv", "-o", path, "--user", NAMES[VIETNAMESE],
                   "--collection", "ho-*", "--key", office.head["verifier_key"])
    assert r.returncode == 0, r.stderr
    rows = read_csv(path)[1:]
    assert [(row[6], row[8], row[9], row[10]) for row in rows] == [
        ("records.put", "NCC-1", "1", "ok"), ("records.put", "NCC-1", "2", "ok"),
        ("records.put", "NCC-2", "1", "ok"), ("records.delete", "NCC-2", "2", "ok"),
        ("records.get", "NCC-9", "", "error")]
    assert all(row[3] == NAMES[VIETNAMESE] and row[4] == str(VIETNAMESE) for row in rows)
    assert rows[-1][11] == "NotFound"
    # Verified: the whole range from line 0, whatever the filter.
    assert r.stdout_text.startswith("OK: the export verifies: seq 0..")
    assert "filter: user=%s, collection=ho-*\n" % NAMES[VIETNAMESE] in r.stdout_text
    # By uid, and by result: the summed-up denials of a caller with no role.
    r = office.ctl("audit", "export", "--format", "csv", "--user", str(MARKUP), "--result", "denied")
    rows = list(csv.reader(io.StringIO(r.stdout.decode("utf-8-sig"), newline="")))[1:]
    assert r.returncode == 0 and len(rows) >= 1 and sum(int(row[12]) for row in rows) == 3, r.stderr
    assert "filter: user=%d, result=denied" % MARKUP in r.stderr


def test_csv_is_not_written_from_an_export_that_does_not_verify(office, tmp_path):
    path = str(tmp_path / "never.csv")
    other = office.head["verifier_key"].replace(office.head["origin"], "another-vault", 1)
    r = office.ctl("audit", "export", "--format", "csv", "-o", path, "--key", other)
    assert r.returncode == 3 and "NOT VERIFIED: line 1 of the export" in r.stderr and "no CSV was written" in r.stderr
    assert not os.path.exists(path) and not any(n.startswith(".vaultctl-") for n in os.listdir(tmp_path))


def soffice(profile, *args):
    # A profile of its own: another LibreOffice on the machine must not
    # share (or lock) it.
    r = subprocess.run(["soffice", "-env:UserInstallation=file://" + profile, "--headless"] + list(args),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def through_calc(path, tmp_path):
    """path through LibreOffice Calc: imported as UTF-8 CSV, saved as .xlsx,
    that saved again as UTF-8 CSV; the rows it gives back. (Headless Calc
    does not pick the charset from the byte order mark as Excel does; its
    Text Import dialog offers UTF-8 for such a file, as chosen here.)"""
    profile, out, back = (str(tmp_path / n) for n in ("lo-profile", "xlsx", "back"))
    soffice(profile, "--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", out, path)
    xlsx = os.path.join(out, os.path.basename(path)[:-4] + ".xlsx")
    soffice(profile, "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", back, xlsx)
    with open(os.path.join(back, os.path.basename(path)), encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_csv_survives_a_real_spreadsheet(office, tmp_path):
    """Vietnamese names come back intact from LibreOffice Calc, and a name
    that is a formula stays text there; the same cell without vaultctl's
    quote is computed (so this test can fail)."""
    path = str(tmp_path / "trail.csv")
    r = office.ctl("audit", "export", "--format", "csv", "-o", path, "--collection", "ho-so")
    assert r.returncode == 0, r.stderr
    ours = read_csv(path)
    formula_rows = [row for row in ours if row[4] == str(FORMULA)]
    assert formula_rows and formula_rows[0][3] == "'=1+2"
    back = through_calc(path, tmp_path)
    assert back[0][0] == "seq" and len(back) == len(ours)
    text_columns = (0, 3, 4, 5, 6, 7, 8, 10, 11)
    for a, b in zip(ours, back):
        assert [a[i] for i in text_columns] == [b[i] for i in text_columns], (a, b)
    assert any(row[3] == NAMES[VIETNAMESE] for row in back)
    assert any(row[3] == "'=1+2" for row in back)
    control = str(tmp_path / "control.csv")
    with open(control, "w", encoding="utf-8", newline="") as f:
        f.write("\ufeffseq,user\r\n1,=1+2\r\n")
    (tmp_path / "back").mkdir(exist_ok=True)
    assert through_calc(control, tmp_path)[1] == ["1", "3"]


# The HTML report.

def report(v, path, *args):
    return v.ctl("audit", "report", "-o", path, *args)


def test_report_is_self_contained_and_escapes_the_trail(office, local_zone, tmp_path):
    path = str(tmp_path / "r.html")
    r = report(office, path, "--lang", "en", "--key", office.head["verifier_key"])
    assert r.returncode == 0, r.stderr
    html = open(path, encoding="utf-8").read()
    assert os.stat(path).st_mode & 0o777 == 0o600
    # Nothing to fetch, nothing to run.
    assert not re.search(r"<(script|link|img|iframe|object)\b", html, re.I)
    tags = re.findall(r"<[a-zA-Z][^<>]*>", html)
    assert not [t for t in tags if re.search(r"\s(src|href|on\w+)\s*=", t, re.I)]
    assert "url(" not in html and "@import" not in html
    assert "@page{size:A4" in html
    # The hostile name is text, not markup.
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # The verdict comes first.
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith('<p class="verdict ok" id="verdict">VERIFIED:')
    for svg_id in ("activity", "denials"):
        svg = re.search(r'<svg class="chart" id="%s"[^>]*>(.*?)</svg>' % svg_id, html, re.S)
        assert svg and "<rect " in svg.group(1), svg_id
    assert "admin.rotate-key" in html and "admin.reload-policy" in html and "kek_version=2" in html
    out = r.stdout_text.splitlines()
    assert out[0].startswith("VERIFIED") and out[1].startswith("  OK: the export verifies: seq 0..")
    assert "Time zone: %s, UTC+07:00" % ZONE in out
    assert "Filter: none (every line of the period)" in out
    # NCC-1, NCC-2, F-1 and the 50 bulk ids are new; 1 + 1,150 puts change one.
    assert "Records created, changed, deleted, disposed: created 53, changed 1,151, deleted 1, disposed 0" in out
    # Past 1,000 rows (1,205 record changes here) a table says how many more
    # there are, and where to find them all.
    assert "+ 205 more rows not shown; all of them: vaultctl audit export --format csv" in html


def test_report_filter_is_stated_and_verification_is_whole(office, local_zone, tmp_path):
    path = str(tmp_path / "denied.html")
    r = office.ctl("audit", "report", "-o", path, "--lang", "en", "--result", "denied", json_out=True)
    assert r.returncode == 0, r.stderr
    j = r.json
    assert j["verification"]["valid"] and j["verification"]["first_seq"] == 0
    assert j["filter"] == "result=denied" and j["denied"] == j["requests"] == 4
    assert j["matched"] < j["period_lines"]
    html = open(path, encoding="utf-8").read()
    assert "result=denied (" in html and "lines match the filter" in html


def test_report_options(office, local_zone, monkeypatch, tmp_path):
    r = office.ctl("audit", "report")
    assert r.returncode == 2 and "the report is an HTML file: give -o FILE" in r.stderr
    r = report(office, str(tmp_path / "x.html"), "--lang", "fr")
    assert r.returncode == 2 and "--lang is vi (Vietnamese) or en (English), not 'fr'" in r.stderr
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    r = report(office, str(tmp_path / "vi.html"))
    assert r.returncode == 0 and r.stdout_text.startswith("ĐÃ XÁC MINH"), r.stderr
    assert '<html lang="vi">' in open(str(tmp_path / "vi.html"), encoding="utf-8").read()
    monkeypatch.setenv("LC_ALL", "C")
    assert report(office, str(tmp_path / "en.html")).stdout_text.startswith("VERIFIED")


def test_report_of_a_trail_that_does_not_verify(vault_dir, local_zone):
    """A line changed in the store: the report is still written, its first
    line says so in red, and vaultctl exits with 3."""
    v = Vault(vault_dir)
    v.start()
    v.ctl("put", "c", "T-1", "-", input=b"x", check=True)
    v.ctl("put", "c", "T-2", "-", input=b"x", check=True)
    key = v.ctl("audit", "head", json_out=True).json["verifier_key"]
    v.stop()
    alter_audit_line(v, 1, b'"T-1"', b'"T-9"')
    v.start()
    try:
        path = os.path.join(vault_dir, "r.html")
        r = report(v, path, "--lang", "vi", "--key", key)
        assert r.returncode == 3, r.stderr
        assert r.stdout_text.startswith("KHÔNG XÁC MINH ĐƯỢC")
        assert re.search(r"NOT VERIFIED: line \d+ of the export \(seq \d+\)", r.stderr) and path in r.stderr
        html = open(path, encoding="utf-8").read()
        body = html.split("<body>", 1)[1].lstrip()
        assert body.startswith('<p class="verdict bad" id="verdict">KHÔNG XÁC MINH ĐƯỢC')
        assert re.search(r"\.bad\{color:#b3261e", html)
    finally:
        v.stop()


def png_is_not_blank(path):
    """Decodes the PNG's pixel data (stdlib only) and checks it is neither
    empty nor one colour: text and bars were drawn."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(idat)
    dark = sum(1 for b in pixels[::7] if b < 128)
    return len(set(pixels)) > 32 and dark > len(pixels) // 7 // 200


def chromium(profile, *args):
    # --no-sandbox: the tests run as root, and Chromium refuses to start its
    # setuid/namespace sandbox as root; the page is our own file, with no
    # script and nothing fetched. No background networking: the machine
    # reaches no network, and the render must not try.
    r = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--user-data-dir=" + profile] + list(args), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_report_in_a_real_browser(office, local_zone, tmp_path):
    """The Vietnamese report rendered by Chromium: a screenshot that is not
    blank, and an A4 PDF whose text has the Vietnamese headings, a count in
    the Vietnamese convention (1.2xx) and today's date as dd/mm/yyyy."""
    path = str(tmp_path / "bao-cao.html")
    r = report(office, path, "--lang", "vi", "--key", office.head["verifier_key"])
    assert r.returncode == 0, r.stderr
    profile, png, pdf = (str(tmp_path / n) for n in ("chromium", "shot.png", "report.pdf"))
    url = "file://" + path
    chromium(profile, "--hide-scrollbars", "--window-size=1000,1400", "--screenshot=" + png, url)
    chromium(profile, "--no-pdf-header-footer", "--print-to-pdf=" + pdf, url)
    assert png_is_not_blank(png)
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Page size:.*\(A4\)$", info, re.M), info
    text = subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout
    assert text.lstrip().startswith("ĐÃ XÁC MINH"), text[:200]
    for heading in ("Báo cáo nhật ký kiểm toán", "Hoạt động theo ngày", "Yêu cầu bị từ chối theo ngày",
                    "Các yêu cầu bị từ chối", "Thao tác quản trị và quản lý khóa",
                    "Hồ sơ được tạo, sửa, xóa, hủy", "Múi giờ"):
        assert heading in text, heading
    assert NAMES[VIETNAMESE] in text
    assert re.search(r"\b1\.2\d\d\b", text), "no count with a '.' thousands separator"
    assert datetime.datetime.now(ZoneInfo(ZONE)).strftime("%d/%m/%Y") in text


# Witnesses' cosignatures (issue #14; docs/audit-format.md "Witnesses").

def cosigned_vault(vault):
    """A checkpoint cosigned by two witnesses, w2's cosignature forged
    (vaultd keeps what has the shape, unchecked): the witnesses and the
    checkpoint's size."""
    w1, w2 = Cosigner("witness.example/w1"), Cosigner("ministry.example/w2")
    put(vault, "A")
    note, size = newest(vault)
    text = note_text(note)
    r = import_note(vault, cosigned(note, w1.line(text), w2.line(text, forge=True)))
    assert r.returncode == 0 and r.json["added"] == 2, r.stdout_text + r.stderr
    assert len(parts(vault.export())[2]) >= 2
    return w1, w2, size


def test_report_lists_cosignatures_and_marks_a_forged_one(vault, local_zone, tmp_path):
    w1, w2, size = cosigned_vault(vault)
    path = str(tmp_path / "w.html")
    until = ("--to-seq", str(size - 1))
    # Without witness keys: both listed, with key ids and times, unchecked.
    r = vault.ctl("audit", "report", "-o", path, "--lang", "en", *until, json_out=True)
    assert r.returncode == 0, r.stderr
    c = r.json["cosignatures"]
    assert c["size"] == size
    assert sorted((w["name"], w["key_id"], w["cosignature"]) for w in c["witnesses"]) == sorted(
        [(w1.name, w1.key_id.hex(), "unchecked"), (w2.name, w2.key_id.hex(), "unchecked")])
    assert all(abs(w["time"] - time.time()) < 120 for w in c["witnesses"])
    html = open(path, encoding="utf-8").read()
    assert "Witness cosignatures" in html and "ministry.example/w2 (key %s)" % w2.key_id.hex() in html
    # With both keys: w1's verifies, w2's is marked forged; a witness given
    # that did not cosign is named as missing. The report is still written.
    w3 = Cosigner("other.example/w3")
    path2 = str(tmp_path / "w2.html")
    r = vault.ctl("audit", "report", "-o", path2, "--lang", "en", *until, "--witness", w1.vkey,
                  "--witness", w2.vkey, "--witness", w3.vkey)
    assert r.returncode == 0, r.stderr
    out = r.stdout_text
    assert re.search(r"^Witness cosignatures: witness\.example/w1 \(key %s\), signed at .*: verifies "
                     r"with the key given" % w1.key_id.hex(), out, re.M), out
    assert re.search(r"^Witness cosignatures: ministry\.example/w2 \(key %s\), signed at .*: does NOT "
                     r"verify" % w2.key_id.hex(), out, re.M), out
    assert "Witness cosignatures: other.example/w3 (key %s): no cosignature" % w3.key_id.hex() in out
    html = open(path2, encoding="utf-8").read()
    assert re.search(r'<td class="cosign forged">ministry\.example/w2 [^<]*does NOT verify', html), html
    assert re.search(r'<td class="cosign">witness\.example/w1 [^<]*verifies with the key given', html)
    # In Vietnamese, with --json.
    r = vault.ctl("audit", "report", "-o", str(tmp_path / "vi.html"), "--lang", "vi", *until, "--witness",
                  w2.vkey, json_out=True)
    verdicts = {w["name"]: w["cosignature"] for w in r.json["cosignatures"]["witnesses"]}
    assert verdicts == {w1.name: "unchecked", w2.name: "invalid"}
    html = open(str(tmp_path / "vi.html"), encoding="utf-8").read()
    assert "Chữ ký đồng xác nhận của bên chứng kiến" in html and "KHÔNG hợp lệ" in html
    # A bad witness key is a usage error, as for audit verify.
    r = vault.ctl("audit", "report", "-o", str(tmp_path / "x.html"), "--witness", "nope")
    assert r.returncode == 2 and "--witness takes a witness's key" in r.stderr
