package main

// io.vaultd.audit and io.vaultd.admin through the generated bindings.

import (
	"encoding/json"
	"os"
	"regexp"
	"time"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// exportAll runs Export with more:true and returns every reply's lines.
func (t *T) exportAll(c *varlink.Connection, from, to *int64) [][]string {
	return t.exportRange(c, from, to, nil, nil)
}

// exportRange is exportAll with since/until (RFC 3339 UTC) as well.
func (t *T) exportRange(c *varlink.Connection, from, to *int64, since, until *string) [][]string {
	receive, err := aud.Export().Send(t.Ctx(), c, varlink.More, from, to, since, until)
	if err != nil {
		t.Fatalf("Export: send: %v", err)
	}
	var replies [][]string
	for {
		lines, flags, err := receive(t.Ctx())
		if err != nil {
			t.Fatalf("Export reply %d: %s", len(replies)+1, describe(err))
		}
		replies = append(replies, lines)
		if flags&varlink.Continues == 0 {
			return replies
		}
		if len(replies) > 100000 {
			t.Fatalf("Export: no end after %d replies", len(replies))
		}
	}
}

// checkExport checks an export's shape (docs/audit-format.md): header,
// lines first_seq..last_seq, then checkpoints.
func (t *T) checkExport(replies [][]string) (first, last int64) {
	var all []string
	for _, r := range replies {
		all = append(all, r...)
	}
	if len(all) < 3 {
		t.Fatalf("Export: %d lines in all", len(all))
	}
	var h struct {
		Format   string `json:"format"`
		FirstSeq *int64 `json:"first_seq"`
		LastSeq  *int64 `json:"last_seq"`
	}
	if err := json.Unmarshal([]byte(all[0]), &h); err != nil || h.Format != "vaultd-audit-export/1" ||
		h.FirstSeq == nil || h.LastSeq == nil {
		t.Fatalf("Export: first line is not a header: %s", all[0])
	}
	n := int64(0)
	i := 1
	for ; i < len(all); i++ {
		var l struct {
			Seq        *int64  `json:"seq"`
			Checkpoint *string `json:"checkpoint"`
		}
		if err := json.Unmarshal([]byte(all[i]), &l); err != nil {
			t.Fatalf("Export line %d is not JSON: %s", i, all[i])
		}
		if l.Checkpoint != nil {
			break
		}
		if l.Seq == nil || *l.Seq != *h.FirstSeq+n {
			t.Fatalf("Export line %d: seq %v, want %d", i, l.Seq, *h.FirstSeq+n)
		}
		n++
	}
	if n != *h.LastSeq-*h.FirstSeq+1 {
		t.Errorf("Export: %d audit lines, header says %d..%d", n, *h.FirstSeq, *h.LastSeq)
	}
	if i == len(all) {
		t.Errorf("Export: no checkpoint at the end")
	}
	return *h.FirstSeq, *h.LastSeq
}

func init() {
	register("bindings_audit_head", "Head through the generated bindings", func(t *T) {
		c := t.Dial()
		lines, hash, origin, key, cp, err := aud.Head().Call(t.Ctx(), c)
		if !t.noErr("Head", err) {
			return
		}
		if lines < 1 || !hex64.MatchString(hash) || origin == "" || key == "" {
			t.Errorf("Head: lines %d hash %q origin %q verifier_key %q", lines, hash, origin, key)
		}
		if cp != nil && *cp == "" {
			t.Errorf("Head: empty checkpoint")
		}
		lines2, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
		if t.noErr("Head again", err) && lines2 != lines+1 {
			t.Errorf("Head: %d lines, then %d (the first Head's own line should count)", lines, lines2)
		}
	})

	register("bindings_audit_verify", "Verify through the generated bindings", func(t *T) {
		c := t.Dial()
		lines, cps, hash, records, versions, err := aud.Verify().Call(t.Ctx(), c)
		if t.noErr("Verify", err) && (lines < 1 || cps < 1 || !hex64.MatchString(hash) || records < 0 ||
			versions < records) {
			t.Errorf("Verify: lines %d checkpoints %d hash %q records %d versions %d", lines, cps, hash,
				records, versions)
		}
	})

	register("audit_verify_one_per_caller", "a Verify while the same caller's Verify runs is TryLater (retry_after, reason); once the first is answered, Verify works again", func(t *T) {
		// A trail longer than a connection's buffers, with oneway Heads.
		fill := t.Dial()
		for i := 0; i < 8000; i++ {
			if _, err := aud.Head().Send(t.Ctx(), fill, varlink.Oneway); err != nil {
				t.Fatalf("Head (oneway): %v", err)
			}
		}
		base, _, _, _, _, err := aud.Head().Call(t.Ctx(), fill)
		if !t.noErr("Head after the oneway ones", err) {
			return
		}
		// An Export nobody reads holds back the calls behind it on its
		// connection: the Verify there is logged, then waits.
		held := t.Dial()
		export, err := aud.Export().Send(t.Ctx(), held, varlink.More, nil, nil, nil, nil)
		if err != nil {
			t.Fatalf("Export: send: %v", err)
		}
		first, err := aud.Verify().Send(t.Ctx(), held, 0)
		if err != nil {
			t.Fatalf("Verify: send: %v", err)
		}
		// Its line is written once Head counts it (and the Heads before).
		probe := t.Dial()
		want := base + 3
		for deadline := time.Now().Add(10 * time.Second); ; want++ {
			lines, _, _, _, _, err := aud.Head().Call(t.Ctx(), probe)
			if !t.noErr("Head", err) {
				return
			}
			if lines >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the held Verify's line was not written within 10 s")
			}
		}
		other := t.Dial()
		_, _, _, _, _, err = aud.Verify().Call(t.Ctx(), other)
		if t.wantErr("Verify while this caller's other Verify runs", err, "io.vaultd.audit.TryLater") {
			if e, ok := err.(*aud.TryLater); !ok || e.Retry_after < 1 || e.Reason == "" {
				t.Errorf("TryLater: %s, want retry_after >= 1 and a reason", describe(err))
			}
		}
		for n := 0; ; n++ {
			_, flags, err := export(t.Ctx())
			if !t.noErr("the held Export", err) {
				return
			}
			if flags&varlink.Continues == 0 {
				break
			}
			if n > 100000 {
				t.Fatalf("the held Export does not end")
			}
		}
		if _, _, _, _, _, _, err := first(t.Ctx()); !t.noErr("the held Verify", err) {
			return
		}
		_, _, _, _, _, err = aud.Verify().Call(t.Ctx(), other)
		t.noErr("Verify once the other was answered", err)
	})

	register("bindings_admin_status", "Status through the generated bindings", func(t *T) {
		c := t.Dial()
		// Outputs by name (from the interface description), so that fields
		// added to Status do not break this check; the tap checks the types.
		outs, err := callBinding(adm.Status().Call, t.Ctx(), c)
		if !t.noErr("Status", err) {
			return
		}
		st := named("io.vaultd.admin.Status", outs)
		if st["state"] != "serving" || st["version"] == "" || st["version"] == nil {
			t.Errorf("Status: %v", st)
		}
		// An admin sees everything.
		for _, f := range []string{"vault", "records", "audit_lines", "connections", "sandbox", "uptime_seconds", "batches", "requests",
			"problems", "warnings", "checkpoint_size", "unsigned_lines", "store_bytes", "map_bytes", "map_used_bytes",
			"map_free_percent", "disk_free_bytes", "disk_total_bytes", "disk_free_percent", "integrity_failures"} {
			if v, declared := st[f]; declared && v == nil {
				t.Errorf("Status to an admin lacks %s: %v", f, st)
			}
		}
		switch st["sandbox"] {
		case "seccomp+landlock", "seccomp", "off":
		default:
			t.Errorf("Status: sandbox %v", st["sandbox"])
		}
	})

	register("bindings_admin_reload_policy", "ReloadPolicy through the generated bindings", func(t *T) {
		c := t.Dial()
		rules, warnings, err := adm.ReloadPolicy().Call(t.Ctx(), c)
		if t.noErr("ReloadPolicy", err) && rules < 1 {
			t.Errorf("ReloadPolicy: %d rules, warnings %v", rules, warnings)
		}
	})

	register("audit_invalid_parameter", "Export from a line that does not exist is audit.InvalidParameter from_seq", func(t *T) {
		c := t.Dial()
		receive, err := aud.Export().Send(t.Ctx(), c, varlink.More, i64(1<<40), nil, nil, nil)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		_, flags, err := receive(t.Ctx())
		if t.wantErr("Export from_seq 2^40", err, "io.vaultd.audit.InvalidParameter") {
			if e, ok := err.(*aud.InvalidParameter); !ok || e.Parameter != "from_seq" || e.Reason == "" {
				t.Errorf("Export from_seq 2^40: %s", describe(err))
			}
		}
		if flags != 0 {
			t.Errorf("error reply with flags %d", flags)
		}
	})

	register("audit_invalid_parameter_time", "Export with a malformed since, or since with from_seq, is audit.InvalidParameter since", func(t *T) {
		c := t.Dial()
		for _, tc := range []struct {
			what  string
			from  *int64
			since string
		}{
			{"since not RFC 3339 UTC", nil, "2026-11-01 08:00"},
			{"since with an offset", nil, "2026-11-01T08:00:00+07:00"},
			{"since and from_seq", i64(0), "2026-11-01T00:00:00Z"},
		} {
			receive, err := aud.Export().Send(t.Ctx(), c, varlink.More, tc.from, nil, str(tc.since), nil)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			_, _, err = receive(t.Ctx())
			if t.wantErr("Export "+tc.what, err, "io.vaultd.audit.InvalidParameter") {
				if e, ok := err.(*aud.InvalidParameter); !ok || e.Parameter != "since" || e.Reason == "" {
					t.Errorf("Export %s: %s", tc.what, describe(err))
				}
			}
		}
	})

	register("admin_invalid_parameter", "ReloadPolicy of a policy that does not parse is admin.InvalidParameter; the old policy stays", func(t *T) {
		if *flagPolicy == "" {
			t.Fatalf("needs -policy FILE (the daemon's policy file)")
		}
		old, err := os.ReadFile(*flagPolicy)
		if err != nil {
			t.Fatalf("read policy: %v", err)
		}
		defer os.WriteFile(*flagPolicy, old, 0644)
		if err := os.WriteFile(*flagPolicy, []byte("allow user root rule nonsense\n"), 0644); err != nil {
			t.Fatalf("write policy: %v", err)
		}
		c := t.Dial()
		_, _, err = adm.ReloadPolicy().Call(t.Ctx(), c)
		if t.wantErr("ReloadPolicy of a broken policy", err, "io.vaultd.admin.InvalidParameter") {
			if e, ok := err.(*adm.InvalidParameter); !ok || e.Parameter == "" || e.Reason == "" {
				t.Errorf("ReloadPolicy of a broken policy: %s", describe(err))
			}
		}
		os.WriteFile(*flagPolicy, old, 0644)
		if _, _, err = adm.ReloadPolicy().Call(t.Ctx(), c); !t.noErr("ReloadPolicy after restoring the policy", err) {
			return
		}
		_, _, _, _, _, err = aud.Head().Call(t.Ctx(), c)
		t.noErr("Head (the old policy's roles still apply)", err)
	})

	register("stream_export", `Export with "more":true streams several replies, each but the last with "continues":true`, func(t *T) {
		c := t.Dial()
		replies := t.exportAll(c, nil, nil)
		if len(replies) < 2 {
			t.Errorf("Export: %d reply, want several", len(replies))
		}
		t.checkExport(replies)
		// The connection goes on after the stream.
		_, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
		t.noErr("Head after the stream", err)
	})

	register("stream_export_range", "Export from_seq/to_seq streams that range, up to a checkpoint", func(t *T) {
		c := t.Dial()
		first, last := t.checkExport(t.exportAll(c, i64(2), i64(3)))
		if first != 2 || last < 3 {
			t.Errorf("Export 2..3: header says %d..%d", first, last)
		}
	})

	register("stream_export_by_time", "Export since/until streams the lines of that period, up to a checkpoint", func(t *T) {
		c := t.Dial()
		all := t.exportAll(c, nil, nil)
		var times []time.Time
		for _, r := range all {
			for _, l := range r {
				var line struct {
					Time *string `json:"time"`
					Seq  *int64  `json:"seq"`
				}
				if json.Unmarshal([]byte(l), &line) == nil && line.Time != nil && line.Seq != nil {
					tm, err := time.Parse(time.RFC3339Nano, *line.Time)
					if err != nil {
						t.Fatalf("line %d: time %q: %v", *line.Seq, *line.Time, err)
					}
					times = append(times, tm)
				}
			}
		}
		if len(times) < 3 {
			t.Fatalf("Export: %d lines, want 3 or more", len(times))
		}
		// From the second line's time to just after it: the export starts at
		// the first line of that time (the second, unless they share it).
		since := times[1].UTC().Format("2006-01-02T15:04:05.000000Z")
		until := times[len(times)-1].Add(time.Hour).UTC().Format(time.RFC3339)
		first, last := t.checkExport(t.exportRange(c, nil, nil, &since, &until))
		if first < 1 || !times[first].Equal(times[1]) || last < int64(len(times))-1 {
			t.Errorf("Export since %s until %s: header says %d..%d", since, until, first, last)
		}
	})
}
