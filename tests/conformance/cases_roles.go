package main

// Checks that need a daemon set up for them (README.md): callers without
// a role (run as another uid), a tampered store, a full disk.

import (
	"fmt"
	"os"
	"strings"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
	rec "vaultdconformance/gen/iovaultdrecords"
	svc "vaultdconformance/gen/orgvarlinkservice"
)

// The collection the denied-service caller may use, and the one it may not.
const (
	svcCollection   = "conf-svc"
	otherCollection = "conf"
)

// deniedCall is one call the caller has no role for; want is the error
// name; method is what AccessDenied must name.
type deniedCall struct {
	method string
	call   func(c *varlink.Connection) error
}

func (t *T) wantDenied(calls []deniedCall) {
	c := t.Dial()
	for _, d := range calls {
		err := d.call(c)
		iface, _ := split(d.method)
		name := iface + ".AccessDenied"
		if !t.wantErr(d.method, err, name) {
			continue
		}
		var got string
		switch e := err.(type) {
		case *rec.AccessDenied:
			got = e.Method
		case *aud.AccessDenied:
			got = e.Method
		case *adm.AccessDenied:
			got = e.Method
		default:
			t.Errorf("%s: %s did not decode into the binding's AccessDenied", d.method, describe(err))
			continue
		}
		if got != d.method {
			t.Errorf("%s: AccessDenied names method %q", d.method, got)
		}
	}
}

func exportFirst(t *T, c *varlink.Connection) error {
	receive, err := aud.Export().Send(t.Ctx(), c, varlink.More, nil, nil, nil, nil)
	if err != nil {
		return err
	}
	_, flags, err := receive(t.Ctx())
	if err == nil && flags&varlink.Continues != 0 {
		t.Errorf("Export streamed to a caller without the role")
	}
	return err
}

func auditAndAdminDenied(t *T) []deniedCall {
	return []deniedCall{
		{"io.vaultd.audit.Head", func(c *varlink.Connection) error {
			_, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
			return err
		}},
		{"io.vaultd.audit.Export", func(c *varlink.Connection) error { return exportFirst(t, c) }},
		{"io.vaultd.audit.Verify", func(c *varlink.Connection) error {
			_, _, _, _, _, err := aud.Verify().Call(t.Ctx(), c)
			return err
		}},
		{"io.vaultd.audit.Prove", func(c *varlink.Connection) error {
			_, _, _, _, _, _, _, _, _, _, _, err := aud.Prove().Call(t.Ctx(), c, int64p(0), nil, nil, nil, nil, nil)
			return err
		}},
		{"io.vaultd.audit.AddCosignatures", func(c *varlink.Connection) error {
			_, _, _, _, err := aud.AddCosignatures().Call(t.Ctx(), c, "x\n1\nAAAA\n\n")
			return err
		}},
		{"io.vaultd.admin.ReloadPolicy", func(c *varlink.Connection) error {
			_, _, err := adm.ReloadPolicy().Call(t.Ctx(), c)
			return err
		}},
	}
}

func recordsDenied(t *T, coll string) []deniedCall {
	return []deniedCall{
		{"io.vaultd.records.Put", func(c *varlink.Connection) error {
			_, err := rec.Put().Call(t.Ctx(), c, coll, "X-1", b64("x"), nil, nil, nil)
			return err
		}},
		{"io.vaultd.records.Get", func(c *varlink.Connection) error {
			_, _, _, _, err := rec.Get().Call(t.Ctx(), c, coll, "X-1", nil)
			return err
		}},
		{"io.vaultd.records.Delete", func(c *varlink.Connection) error {
			_, err := rec.Delete().Call(t.Ctx(), c, coll, "X-1", nil)
			return err
		}},
		{"io.vaultd.records.List", func(c *varlink.Connection) error {
			_, _, err := rec.List().Call(t.Ctx(), c, coll, nil, nil)
			return err
		}},
		{"io.vaultd.records.History", func(c *varlink.Connection) error {
			_, _, _, err := rec.History().Call(t.Ctx(), c, coll, "X-1", nil, nil)
			return err
		}},
	}
}

func init() {
	register("denied_records_methods", "every records method on a collection the caller has no role for is records.AccessDenied", func(t *T) {
		t.wantDenied(recordsDenied(t, otherCollection))
	})

	register("denied_audit_methods", "Head, Export, Verify without the auditor role are audit.AccessDenied", func(t *T) {
		t.wantDenied(auditAndAdminDenied(t)[:3])
	})

	register("denied_admin_reload", "ReloadPolicy without the admin role is admin.AccessDenied", func(t *T) {
		t.wantDenied(auditAndAdminDenied(t)[3:])
	})

	register("service_allowed_calls", "the service caller's own collection, Status and org.varlink.service work", func(t *T) {
		c := t.Dial()
		v, err := rec.Put().Call(t.Ctx(), c, svcCollection, fmt.Sprintf("S-%d", os.Getpid()), b64("mine"), nil, nil, nil)
		if t.noErr("Put to the caller's own collection", err) && v != 1 {
			t.Errorf("Put: version %d", v)
		}
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, svcCollection, "NOPE", nil)
		t.wantErr("Get of a missing record in the caller's own collection", err, "io.vaultd.records.NotFound")
		// A service is told whether the vault serves, and nothing of its
		// health or counters (other tenants' activity).
		st, err := t.statusFields(c)
		if t.noErr("Status", err) && (st["state"] != "serving" || keys(st) != "state,version") {
			t.Errorf("Status to a service: %v", st)
		}
		_, product, _, _, _, err := svc.GetInfo().Call(t.Ctx(), c)
		if t.noErr("GetInfo", err) && product != "vaultd" {
			t.Errorf("GetInfo: product %q", product)
		}
	})

	register("oneway_denied", "a oneway call the caller has no role for gets no reply", func(t *T) {
		t.runOneway([]onewayCall{
			{"Get of another collection (AccessDenied)", func(c *varlink.Connection) error {
				_, err := rec.Get().Send(t.Ctx(), c, varlink.Oneway, otherCollection, "X-1", nil)
				return err
			}},
			{"Verify (AccessDenied)", func(c *varlink.Connection) error {
				_, err := aud.Verify().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"ReloadPolicy (AccessDenied)", func(c *varlink.Connection) error {
				_, err := adm.ReloadPolicy().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"RotateKey (AccessDenied)", func(c *varlink.Connection) error {
				_, err := adm.RotateKey().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
		})
		r := t.Raw()
		msg := `{"method":"io.vaultd.audit.Export","more":true,"oneway":true}`
		r.Send(msg, `{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.vaultd.admin"}}`)
		raw, m := t.recv(r, msg)
		if d, _ := params(m)["description"].(string); !strings.Contains(d, "interface io.vaultd.admin") {
			t.Errorf("after %s the next message read was %s, not the reply to the following call", msg, raw)
		}
	})

	register("stranger_denied", "a caller the policy does not know is AccessDenied everywhere, Status included", func(t *T) {
		calls := []deniedCall{
			{"io.vaultd.admin.Status", func(c *varlink.Connection) error {
				_, err := t.status(c)
				return err
			}},
		}
		calls = append(calls, recordsDenied(t, svcCollection)...)
		calls = append(calls, auditAndAdminDenied(t)...)
		calls = append(calls, keysDenied(t)...)
		calls = append(calls, sealDenied(t)...)
		calls = append(calls, backupDenied(t)...)
		t.wantDenied(calls)
	})

	register("stranger_service_interface", "org.varlink.service answers anyone", func(t *T) {
		c := t.Dial()
		var ifaces []string
		if t.noErr("GetInfo", c.GetInfo(t.Ctx(), nil, nil, nil, nil, &ifaces)) && len(ifaces) != 4 {
			t.Errorf("GetInfo: interfaces %v", ifaces)
		}
		_, err := c.GetInterfaceDescription(t.Ctx(), "io.vaultd.records")
		t.noErr("GetInterfaceDescription", err)
	})

	register("integrity_record", "Get of an altered version is records.IntegrityError naming it", func(t *T) {
		c := t.Dial()
		_, data, _, _, err := rec.Get().Call(t.Ctx(), c, "integ", "INTEG-1", nil)
		if t.wantErr("Get of the altered record", err, "io.vaultd.records.IntegrityError") {
			if e, ok := err.(*rec.IntegrityError); !ok || e.Collection != "integ" || e.Id != "INTEG-1" ||
				e.Version != 1 || e.Reason == "" {
				t.Errorf("IntegrityError: %s", describe(err))
			}
		}
		if data != "" {
			t.Errorf("data came back with the error")
		}
	})

	register("integrity_trail", "Verify of an altered trail is audit.IntegrityError with seq and reason", func(t *T) {
		c := t.Dial()
		_, _, _, _, _, err := aud.Verify().Call(t.Ctx(), c)
		if t.wantErr("Verify of the altered trail", err, "io.vaultd.audit.IntegrityError") {
			if e, ok := err.(*aud.IntegrityError); !ok || e.Seq < 1 || e.Reason == "" {
				t.Errorf("IntegrityError: %s", describe(err))
			}
		}
		// And through the raw client with "more": still one error reply.
		receive, err := aud.Verify().Send(t.Ctx(), c, varlink.More)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		_, _, _, _, _, flags, err := receive(t.Ctx())
		t.wantErr("Verify with more of the altered trail", err, "io.vaultd.audit.IntegrityError")
		if flags != 0 {
			t.Errorf("Verify with more: flags %d", flags)
		}
	})

	register("integrity_status", `after the failures above, Status to an admin is "degraded": the problems name the failed Verify, integrity_last the failure`, func(t *T) {
		c := t.Dial()
		st, err := t.statusFields(c)
		if !t.noErr("Status", err) {
			return
		}
		problems, _ := st["problems"].([]interface{})
		last, _ := st["integrity_last"].(map[string]interface{})
		failures, _ := st["integrity_failures"].(float64)
		if st["state"] != "degraded" || len(problems) == 0 || failures < 2 || last == nil {
			t.Errorf("Status after integrity failures: %v", st)
			return
		}
		if p, _ := problems[0].(string); !strings.HasPrefix(p, "audit verify failed at seq ") {
			t.Errorf("Status problems: %v", problems)
		}
		if last["kind"] != "verify" || last["operation"] != "audit.verify" || last["what"] == "" || last["seq"] == nil {
			t.Errorf("Status integrity_last: %v", last)
		}
	})

	register("records_inconsistent", "Verify of records edited on disk is audit.RecordsInconsistent naming each; Get of the rolled-back record is records.IntegrityError", func(t *T) {
		c := t.Dial()
		_, _, _, _, _, err := aud.Verify().Call(t.Ctx(), c)
		if t.wantErr("Verify of the edited records", err, "io.vaultd.audit.RecordsInconsistent") {
			e, ok := err.(*aud.RecordsInconsistent)
			if !ok || e.Count < 1 || len(e.Problems) < 1 || int64(len(e.Problems)) > e.Count {
				t.Errorf("RecordsInconsistent: %s", describe(err))
			} else if p := e.Problems[0]; p.Collection != "meta" || p.Id != "META-1" || p.Reason == "" ||
				p.Version == nil || *p.Version != 2 {
				t.Errorf("RecordsInconsistent names %s", describe(err))
			}
		}
		_, data, _, _, err := rec.Get().Call(t.Ctx(), c, "meta", "META-1", nil)
		if t.wantErr("Get of the rolled-back record", err, "io.vaultd.records.IntegrityError") {
			if e, ok := err.(*rec.IntegrityError); !ok || e.Collection != "meta" || e.Id != "META-1" ||
				e.Reason == "" {
				t.Errorf("IntegrityError: %s", describe(err))
			}
		}
		if data != "" {
			t.Errorf("data came back with the error")
		}
		_, data, _, _, err = rec.Get().Call(t.Ctx(), c, "meta", "META-2", nil)
		if t.noErr("Get of an untouched record", err) && data == "" {
			t.Errorf("Get of an untouched record: no data")
		}
	})

	register("oneway_integrity", "oneway Get and Verify that fail integrity get no reply", func(t *T) {
		t.runOneway([]onewayCall{
			{"Get of the altered record", func(c *varlink.Connection) error {
				_, err := rec.Get().Send(t.Ctx(), c, varlink.Oneway, "integ", "INTEG-1", nil)
				return err
			}},
			{"Verify of the altered trail", func(c *varlink.Connection) error {
				_, err := aud.Verify().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
		})
	})

	register("storage_full", "on a full disk every audited call is its interface's StorageFull; Status still answers", func(t *T) {
		c := t.Dial()
		// Fill with smaller and smaller bodies until not even an empty
		// Put fits: then no audit line fits either.
		stored := 0
		for _, size := range []int{256 * 1024, 32 * 1024, 4096, 512, 0} {
			body := b64(strings.Repeat("s", size))
			full := false
			for i := 0; i < 2000 && !full; i++ {
				_, err := rec.Put().Call(t.Ctx(), c, "conf-full", fmt.Sprintf("F-%d-%d", size, i), body, nil, nil, nil)
				switch {
				case err == nil:
					stored++
				case errName(err) == "io.vaultd.records.StorageFull":
					if e, ok := err.(*rec.StorageFull); !ok || e.Reason == "" {
						t.Errorf("StorageFull: %s", describe(err))
					}
					full = true
				default:
					t.Fatalf("Put of %d bytes: %s", size, describe(err))
				}
			}
			if !full {
				t.Fatalf("Puts of %d bytes never filled the disk", size)
			}
		}
		if stored == 0 {
			t.Fatalf("not one Put stored before the disk was full")
		}
		_, _, _, _, _, err := aud.Head().Call(t.Ctx(), c)
		if t.wantErr("Head on a full disk", err, "io.vaultd.audit.StorageFull") {
			if e, ok := err.(*aud.StorageFull); !ok || e.Reason == "" {
				t.Errorf("Head: %s", describe(err))
			}
		}
		_, _, _, _, _, err = aud.Verify().Call(t.Ctx(), c)
		t.wantErr("Verify on a full disk", err, "io.vaultd.audit.StorageFull")
		_, _, err = adm.ReloadPolicy().Call(t.Ctx(), c)
		if t.wantErr("ReloadPolicy on a full disk", err, "io.vaultd.admin.StorageFull") {
			if e, ok := err.(*adm.StorageFull); !ok || e.Reason == "" {
				t.Errorf("ReloadPolicy: %s", describe(err))
			}
		}
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c, "conf-full", "F-262144-0", nil)
		if err != nil && errName(err) != "io.vaultd.records.StorageFull" {
			t.Errorf("Get on a full disk: %s", describe(err))
		}
		// Status answers, and tells an admin why the vault needs one.
		st, err := t.statusFields(c)
		if t.noErr("Status on a full disk", err) {
			problems, _ := st["problems"].([]interface{})
			if st["state"] != "degraded" || len(problems) == 0 ||
				!strings.HasPrefix(fmt.Sprint(problems[0]), "disk full") {
				t.Errorf("Status on a full disk: %v", st)
			}
		}
	})
}
