package main

// A root key sealed by a passphrase (io.vaultd.admin Unseal, Seal;
// the Sealed, WrongPassphrase and TryLater errors): the "sealed" group runs
// against a vault whose key file is sealed by the passphrase in
// -passphrase-file, started and not yet unsealed. Its checks run in order:
// sealed, wrong passphrases and their backoff, unsealed, sealed again,
// unsealed again. The main group (a plain key file) checks that Seal is
// refused there.

import (
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
	rec "vaultdconformance/gen/iovaultdrecords"
)

// Methods whose successful reply needs a key file sealed by a passphrase:
// the main group's every_method_replied leaves them to the sealed group's
// sealed_methods_replied.
var repliedInSealedGroup = []string{"io.vaultd.admin.Unseal", "io.vaultd.admin.Seal"}

func leftToSealedGroup(method string) bool {
	return method == "io.vaultd.admin.Unseal" || method == "io.vaultd.admin.Seal"
}

// passphrase is the one that seals the vault's key file (-passphrase-file,
// its first line as vaultd reads it).
func (t *T) passphrase() string {
	if *flagPassphraseFile == "" {
		t.Fatalf("needs -passphrase-file FILE (the passphrase that seals the daemon's key file)")
	}
	b, err := os.ReadFile(*flagPassphraseFile)
	if err != nil {
		t.Fatalf("read the passphrase: %v", err)
	}
	p := strings.SplitN(string(b), "\n", 2)[0]
	p = strings.TrimSuffix(p, "\r")
	if p == "" {
		t.Fatalf("%s holds no passphrase", *flagPassphraseFile)
	}
	return p
}

// wantState fails unless Status (through the binding) says state.
func (t *T) wantState(c *varlink.Connection, what, state string) bool {
	got, err := t.status(c)
	if !t.noErr("Status "+what, err) {
		return false
	}
	if got != state {
		t.Errorf("Status %s: state %q, want %q", what, got, state)
		return false
	}
	return true
}

// waitState polls Status until it says state (a oneway call is answered by
// nothing, so only its effect shows that it ran).
func (t *T) waitState(c *varlink.Connection, what, state string) {
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		got, err := t.status(c)
		if !t.noErr("Status "+what, err) {
			return
		}
		if got == state {
			return
		}
		last = got
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("Status %s: state still %q after 10 s, want %q", what, last, state)
}

// wantSealed checks err is iface's Sealed, which declares no parameters:
// decoded by the binding (or, were "parameters" left out, the client's
// plain error without any). The tap checks that no parameter came.
func (t *T) wantSealed(what string, err error, iface string) {
	if !t.wantErr(what, err, iface+".Sealed") {
		return
	}
	switch e := err.(type) {
	case *rec.Sealed, *adm.Sealed, *aud.Sealed:
	case *varlink.Error:
		if raw, _ := e.Parameters.(*json.RawMessage); raw != nil {
			t.Errorf("%s: %s did not decode into the binding's Sealed", what, describe(err))
		}
	default:
		t.Errorf("%s: %s (%T) is not the binding's Sealed", what, describe(err), err)
	}
}

// unseal calls Unseal through the binding and wants state "serving".
func (t *T) unseal(c *varlink.Connection, what, pass string) bool {
	state, err := adm.Unseal().Call(t.Ctx(), c, pass)
	if !t.noErr("Unseal "+what, err) {
		return false
	}
	if state != "serving" {
		t.Errorf("Unseal %s: state %q, want \"serving\"", what, state)
		return false
	}
	return true
}

func (t *T) seal(c *varlink.Connection, what string) bool {
	state, err := adm.Seal().Call(t.Ctx(), c)
	if !t.noErr("Seal "+what, err) {
		return false
	}
	if state != "sealed" {
		t.Errorf("Seal %s: state %q, want \"sealed\"", what, state)
		return false
	}
	return true
}

// wantUpgradeRejected checks a reply received for a call sent with
// "upgrade": true.
func (t *T) wantUpgradeRejected(what string, conn varlink.ReadWriterContext, err error) {
	if t.wantErr(what+" with upgrade", err, "org.varlink.service.InvalidParameter") {
		if e, ok := err.(*varlink.InvalidParameter); !ok || e.Parameter != "upgrade" {
			t.Errorf("%s with upgrade: %s, want parameter \"upgrade\"", what, describe(err))
		}
	}
	if conn != nil {
		t.Errorf("%s with upgrade was accepted", what)
	}
}

// sealDenied: Unseal and Seal, for callers without the admin role.
func sealDenied(t *T) []deniedCall {
	return []deniedCall{
		{"io.vaultd.admin.Unseal", func(c *varlink.Connection) error {
			_, err := adm.Unseal().Call(t.Ctx(), c, "not the passphrase")
			return err
		}},
		{"io.vaultd.admin.Seal", func(c *varlink.Connection) error {
			_, err := adm.Seal().Call(t.Ctx(), c)
			return err
		}},
	}
}

// sealedCollection is where the sealed group writes.
const sealedCollection = "conf-sealed"

func init() {
	// The main group: a plain key file.
	register("seal_plain_key", `Seal with a plain (unsealed) key file is admin.InvalidParameter "key"; the vault keeps serving`, func(t *T) {
		c := t.Dial()
		state, err := adm.Seal().Call(t.Ctx(), c)
		t.adminInvalid("Seal of a plain key file", err, "key")
		if state != "" {
			t.Errorf("Seal of a plain key file answered state %q", state)
		}
		t.wantState(c, "after the refused Seal", "serving")
		t.put(c, "conf-seal", "SP-1", "still serving")
		t.getBody(c, "conf-seal", "SP-1", nil, "still serving")
	})

	register("denied_admin_seal", "Unseal and Seal without the admin role are admin.AccessDenied", func(t *T) {
		t.wantDenied(sealDenied(t))
	})

	// The sealed group, in order.
	register("sealed_status", `a vault whose key file is sealed starts sealed: Status state "sealed"`, func(t *T) {
		c := t.Dial()
		outs, err := callBinding(adm.Status().Call, t.Ctx(), c)
		if !t.noErr("Status", err) {
			return
		}
		st := named("io.vaultd.admin.Status", outs)
		if st["state"] != "sealed" || st["version"] == "" || st["version"] == nil {
			t.Errorf("Status of a sealed vault: %v, want state \"sealed\" and a version", st)
		}
	})

	register("sealed_records", "sealed, every records method is records.Sealed (no parameters), a oneway one gets no reply", func(t *T) {
		for _, d := range recordsDenied(t, sealedCollection) {
			t.wantSealed(d.method+" while sealed", d.call(t.Dial()), "io.vaultd.records")
		}
		t.runOneway([]onewayCall{
			{"Put while sealed (Sealed)", func(c *varlink.Connection) error {
				_, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, sealedCollection, "OW-1", b64("x"), nil, nil, nil)
				return err
			}},
		})
		t.wantState(t.Dial(), "after the records calls", "sealed")
	})

	register("sealed_admin_keys", "sealed, RotateKey, Rewrap and RetireKey are admin.Sealed (no parameters)", func(t *T) {
		c := t.Dial()
		_, _, err := adm.RotateKey().Call(t.Ctx(), c)
		t.wantSealed("RotateKey while sealed", err, "io.vaultd.admin")
		_, _, _, _, err = adm.Rewrap().Call(t.Ctx(), c, nil)
		t.wantSealed("Rewrap while sealed", err, "io.vaultd.admin")
		_, err = adm.RetireKey().Call(t.Ctx(), c, 1)
		t.wantSealed("RetireKey(1) while sealed", err, "io.vaultd.admin")
		t.wantState(c, "after the key calls", "sealed")
	})

	register("sealed_audit_head_verify", "sealed, the trail stays readable: Head and Verify answer; Resolve is audit.Sealed", func(t *T) {
		c := t.Dial()
		lines, hash, origin, key, cp, err := aud.Head().Call(t.Ctx(), c)
		if t.noErr("Head while sealed", err) {
			if lines < 1 || !hex64.MatchString(hash) || origin == "" || key == "" || (cp != nil && *cp == "") {
				t.Errorf("Head while sealed: lines %d hash %q origin %q verifier_key %q", lines, hash, origin, key)
			}
			lines2, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
			if t.noErr("Head again while sealed", err) && lines2 != lines+1 {
				t.Errorf("Head while sealed: %d lines, then %d (the first Head's own line should count)", lines, lines2)
			}
		}
		vl, cps, vh, _, _, err := aud.Verify().Call(t.Ctx(), c)
		if t.noErr("Verify while sealed", err) && (vl < 1 || cps < 1 || !hex64.MatchString(vh)) {
			t.Errorf("Verify while sealed: lines %d checkpoints %d hash %q", vl, cps, vh)
		}
		// Resolve needs the keeper's keys: audit.Sealed.
		_, _, err = aud.Resolve().Call(t.Ctx(), c, sealedCollection, str("ps-00000000000000000000000000000000"), "thanh tra")
		t.wantSealed("Resolve while sealed", err, "io.vaultd.audit")
	})

	register("sealed_audit_export", "sealed, Export streams the trail (the whole of it, and up to the first checkpoint)", func(t *T) {
		c := t.Dial()
		first, _ := t.checkExport(t.exportAll(c, i64(0), i64(0)))
		if first != 0 {
			t.Errorf("Export 0..0 while sealed: header first_seq %d", first)
		}
		first, _ = t.checkExport(t.exportAll(c, nil, nil))
		if first != 0 {
			t.Errorf("Export while sealed: header first_seq %d", first)
		}
	})

	register("unseal_wrong_passphrase", "Unseal with a wrong passphrase is WrongPassphrase (retry_after 1, then 2), a retry before then TryLater, even with the right one; after the wait the right one unseals", func(t *T) {
		pass := t.passphrase()
		c := t.Dial()
		for _, delay := range []int64{1, 2} {
			sent := time.Now()
			_, err := adm.Unseal().Call(t.Ctx(), c, pass+" (wrong)")
			refused := time.Now()
			if !t.wantErr("Unseal with a wrong passphrase", err, "io.vaultd.admin.WrongPassphrase") {
				t.Fatalf("stopped: the backoff cannot be checked")
			}
			if e, ok := err.(*adm.WrongPassphrase); !ok || e.Retry_after != delay {
				t.Errorf("wrong passphrase number %d: %s, want retry_after %d", delay, describe(err), delay)
			}
			// Too soon, even on another connection and with the right
			// passphrase: the backoff is the vault's, and it runs from the
			// refusal ("the next attempt must wait retry_after seconds").
			_, err = adm.Unseal().Call(t.Ctx(), t.Dial(), pass)
			retried := time.Now()
			if errName(err) != "io.vaultd.admin.TryLater" {
				t.Errorf("Unseal (the right passphrase) sent right after WrongPassphrase retry_after %d: want "+
					"io.vaultd.admin.TryLater, got %s; the WrongPassphrase came %.2f s after its call was sent, "+
					"this reply %.2f s after the WrongPassphrase (the wait seems to run from the wrong attempt's "+
					"start, not from its refusal)", delay, describe(err), refused.Sub(sent).Seconds(),
					retried.Sub(refused).Seconds())
				if state, serr := t.status(c); serr == nil && state == "serving" {
					t.Fatalf("stopped: the vault is unsealed already")
				}
			} else if e, ok := err.(*adm.TryLater); !ok || e.Retry_after < 1 || e.Retry_after > delay {
				t.Errorf("Unseal right after wrong passphrase number %d: %s, want retry_after 1-%d", delay, describe(err), delay)
			}
			t.wantState(c, "after TryLater", "sealed")
			time.Sleep(time.Until(refused.Add(time.Duration(delay)*time.Second + 150*time.Millisecond)))
		}
		if t.unseal(c, "with the right passphrase after the wait", pass) {
			t.wantState(c, "after Unseal", "serving")
		}
	})

	register("unsealed_records_work", "unsealed, every records method works again (through the generated bindings)", func(t *T) {
		c := t.Dial()
		if !t.wantState(c, "before the records calls", "serving") {
			t.Fatalf("the vault is not unsealed")
		}
		t.put(c, sealedCollection, "U-1", "first, unsealed")
		t.put(c, sealedCollection, "U-1", "second, unsealed")
		t.getBody(c, sealedCollection, "U-1", nil, "second, unsealed")
		t.getBody(c, sealedCollection, "U-1", i64(1), "first, unsealed")
		t.put(c, sealedCollection, "U-2", "to delete")
		if v, err := rec.Delete().Call(t.Ctx(), c, sealedCollection, "U-2", nil); t.noErr("Delete", err) && v != 2 {
			t.Errorf("Delete: version %d, want 2", v)
		}
		records, _, err := rec.List().Call(t.Ctx(), c, sealedCollection, nil, nil)
		if t.noErr("List", err) && (len(records) != 1 || records[0].Id != "U-1" || records[0].Version != 2) {
			t.Errorf("List: %v, want U-1 version 2 only", records)
		}
		versions, deleted, _, err := rec.History().Call(t.Ctx(), c, sealedCollection, "U-2", nil, nil)
		if t.noErr("History", err) && (len(versions) != 2 || !deleted || !versions[1].Deleted) {
			t.Errorf("History of U-2: %v deleted %v, want 2 versions, the last a deletion", versions, deleted)
		}
		// The OW-1 a oneway Put named while sealed was not written.
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, sealedCollection, "OW-1", nil)
		t.wantErr("Get of the record a oneway Put named while sealed", err, "io.vaultd.records.NotFound")
	})

	register("seal_again", `Seal: state "sealed", records answer Sealed again; Unseal serves the same records`, func(t *T) {
		pass := t.passphrase()
		c := t.Dial()
		// Not executed when sent with upgrade.
		recvSeal, err := adm.Seal().Upgrade(t.Ctx(), t.Dial())
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		state, _, conn, err := recvSeal(t.Ctx())
		t.wantUpgradeRejected("Seal", conn, err)
		if state != "" {
			t.Errorf("Seal with upgrade answered state %q", state)
		}
		t.wantState(c, "after Seal with upgrade", "serving")

		if !t.seal(c, "while serving") {
			t.Fatalf("stopped: not sealed")
		}
		t.wantState(c, "after Seal", "sealed")
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, sealedCollection, "U-1", nil)
		t.wantSealed("Get after Seal", err, "io.vaultd.records")
		_, err = rec.Put().Call(t.Ctx(), c, sealedCollection, "U-1", b64("while sealed"), nil, nil, nil)
		t.wantSealed("Put after Seal", err, "io.vaultd.records")
		_, _, err = adm.RotateKey().Call(t.Ctx(), c)
		t.wantSealed("RotateKey after Seal", err, "io.vaultd.admin")

		if t.unseal(c, "after Seal", pass) {
			t.wantState(c, "after Unseal", "serving")
			t.getBody(c, sealedCollection, "U-1", nil, "second, unsealed")
			t.put(c, sealedCollection, "U-3", "after the second unseal")
		}
	})

	register("sealed_upgrade_rejected", `Unseal with "upgrade" is InvalidParameter "upgrade" and not executed (the vault stays sealed)`, func(t *T) {
		pass := t.passphrase()
		c := t.Dial()
		if !t.seal(c, "for the upgrade calls") {
			t.Fatalf("stopped: not sealed")
		}
		recvUnseal, err := adm.Unseal().Upgrade(t.Ctx(), t.Dial(), pass)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		state, _, conn, err := recvUnseal(t.Ctx())
		t.wantUpgradeRejected("Unseal", conn, err)
		if state != "" {
			t.Errorf("Unseal with upgrade answered state %q", state)
		}
		t.wantState(c, "after Unseal with upgrade (the right passphrase)", "sealed")
		_, err = rec.Put().Call(t.Ctx(), c, sealedCollection, "U-4", "", nil, nil, nil)
		t.wantSealed("Put after Unseal with upgrade", err, "io.vaultd.records")
	})

	register("oneway_unseal_seal", `oneway Unseal gets no reply and is executed (the vault serves), so is oneway Seal`, func(t *T) {
		pass := t.passphrase()
		c := t.Dial()
		if !t.wantState(c, "before oneway Unseal", "sealed") {
			t.Fatalf("stopped: the vault is not sealed")
		}
		if _, err := adm.Unseal().Send(t.Ctx(), c, varlink.Oneway, pass); err != nil {
			t.Fatalf("send: %v", err)
		}
		t.probe(c, "oneway Unseal")
		t.waitState(c, "after oneway Unseal", "serving")
		t.getBody(c, sealedCollection, "U-3", nil, "after the second unseal")

		if _, err := adm.Seal().Send(t.Ctx(), c, varlink.Oneway); err != nil {
			t.Fatalf("send: %v", err)
		}
		t.probe(c, "oneway Seal")
		t.waitState(c, "after oneway Seal", "sealed")
		_, _, _, _, err := rec.Get().Call(t.Ctx(), c, sealedCollection, "U-3", nil)
		t.wantSealed("Get after oneway Seal", err, "io.vaultd.records")
		// Unsealed again: the vault is left serving.
		t.unseal(c, "after oneway Seal", pass)
	})

	register("sealed_methods_replied", "Unseal and Seal (which the main group leaves to this one) gave valid replies during this run", func(t *T) {
		replied := t.tap.Replied()
		for _, m := range repliedInSealedGroup {
			if replied[m] == 0 {
				t.Errorf("no valid reply seen from %s", m)
			}
		}
	})
}
