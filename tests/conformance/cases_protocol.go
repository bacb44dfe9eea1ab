package main

// Protocol-level behaviour: varlink's own errors, malformed messages,
// oneway (item 3), upgrade (item 4), more and pipelining (item 6), and the
// coverage check that closes the main group.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	aud "vaultdconformance/gen/iovaultdaudit"
	rec "vaultdconformance/gen/iovaultdrecords"
	svc "vaultdconformance/gen/orgvarlinkservice"
)

// sendOneway sends one call with the oneway flag through the reference
// client (generated bindings, or Send for names no binding has).
type onewayCall struct {
	what string
	send func(c *varlink.Connection) error
}

func sendRaw(method string, params interface{}, flags uint64) func(c *varlink.Connection) error {
	return func(c *varlink.Connection) error {
		_, err := c.Send(ctxBackground(), method, params, flags)
		return err
	}
}

// runOneway sends each call oneway on its own connection, then checks that
// the next message read is the reply to a following ordinary call.
func (t *T) runOneway(calls []onewayCall) {
	for _, oc := range calls {
		c := t.Dial()
		if err := oc.send(c); err != nil {
			t.Errorf("oneway %s: send: %v", oc.what, err)
			continue
		}
		t.probe(c, "oneway "+oc.what)
	}
}

func init() {
	register("protocol_method_not_found", "an unknown method of a known interface is MethodNotFound with the full name", func(t *T) {
		c := t.Dial()
		var out map[string]interface{}
		err := c.Call(t.Ctx(), "io.vaultd.records.Nope", map[string]interface{}{}, &out)
		if t.wantErr("io.vaultd.records.Nope", err, "org.varlink.service.MethodNotFound") {
			if e, ok := err.(*varlink.MethodNotFound); !ok || e.Method != "io.vaultd.records.Nope" {
				t.Errorf("MethodNotFound: %s", describe(err))
			}
		}
		err = c.Call(t.Ctx(), "org.varlink.service.Nope", map[string]interface{}{}, &out)
		t.wantErr("org.varlink.service.Nope", err, "org.varlink.service.MethodNotFound")
	})

	register("protocol_interface_not_found", "an unknown interface is InterfaceNotFound naming it", func(t *T) {
		c := t.Dial()
		var out map[string]interface{}
		for _, tc := range []struct{ method, iface string }{
			{"io.nothing.Get", "io.nothing"}, {"io.vaultd.Records.Get", "io.vaultd.Records"}, {"NoDot", ""},
		} {
			err := c.Call(t.Ctx(), tc.method, map[string]interface{}{}, &out)
			if t.wantErr(tc.method, err, "org.varlink.service.InterfaceNotFound") {
				if e, ok := err.(*varlink.InterfaceNotFound); !ok || e.Interface != tc.iface {
					t.Errorf("%s: %s, want interface %q", tc.method, describe(err), tc.iface)
				}
			}
		}
	})

	register("protocol_expected_more", `Export without "more":true is ExpectedMore (generated binding's Call)`, func(t *T) {
		c := t.Dial()
		_, err := aud.Export().Call(t.Ctx(), c, nil, nil, nil, nil)
		t.wantErr("Export without more", err, "org.varlink.service.ExpectedMore")
		_, _, _, _, _, err = aud.Head().Call(t.Ctx(), c)
		t.noErr("Head after ExpectedMore", err)
	})

	register("protocol_malformed_messages", "malformed messages get org.varlink.service.InvalidParameter; the connection stays usable", func(t *T) {
		r := t.Raw()
		for _, tc := range []struct{ msg, param string }{
			{`not json`, "message"},
			{`[1,2]`, "message"},
			{`{"method":7}`, ""},
			{`{"parameters":{}}`, ""},
			{`{"method":"io.vaultd.admin.Status","parameters":[1]}`, ""},
			{`{"method":"io.vaultd.admin.Status","more":"yes"}`, ""},
			{`{"method":"io.vaultd.admin.Status","oneway":1}`, ""},
		} {
			if err := r.Send(tc.msg); err != nil {
				t.Fatalf("send %s: %v", tc.msg, err)
			}
			raw, m := t.recv(r, tc.msg)
			p := params(m)
			if m["error"] != "org.varlink.service.InvalidParameter" {
				t.Errorf("%s: got %s", tc.msg, raw)
				continue
			}
			got, _ := p["parameter"].(string)
			if got == "" || (tc.param != "" && got != tc.param) {
				t.Errorf("%s: got %s, want parameter %q", tc.msg, raw, tc.param)
			}
		}
		r.Send(`{"method":"io.vaultd.admin.Status"}`)
		if raw, m := t.recv(r, "Status"); m["error"] != nil {
			t.Errorf("Status after malformed messages: %s", raw)
		}
	})

	register("varlink_invalid_parameter_only_parameter",
		"org.varlink.service.InvalidParameter carries exactly {parameter} (as declared)", func(t *T) {
			r := t.Raw()
			for _, msg := range []string{`not json`,
				`{"method":"io.vaultd.admin.Status","upgrade":true}`,
				`{"method":"org.varlink.service.GetInterfaceDescription","parameters":{}}`} {
				r.Send(msg)
				raw, m := t.recv(r, msg)
				if m["error"] != "org.varlink.service.InvalidParameter" {
					t.Errorf("%s: got %s", msg, raw)
				} else if keys(params(m)) != "parameter" {
					t.Errorf("%s: got %s: parameters must be exactly {parameter}", msg, raw)
				}
			}
		})

	register("oneway_call_executed_no_reply", `a "oneway":true call is executed and gets no reply`, func(t *T) {
		c := t.Dial()
		if _, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, "conf-ow", "OW-1", b64("oneway body"), nil, nil, nil); err != nil {
			t.Fatalf("send: %v", err)
		}
		t.probe(c, "oneway Put")
		v, data, _, _, err := rec.Get().Call(t.Ctx(), c, "conf-ow", "OW-1", nil)
		if t.noErr("Get of the record the oneway Put wrote", err) && (v != 1 || data != b64("oneway body")) {
			t.Errorf("Get after oneway Put: version %d data %q", v, data)
		}
		// Many oneway calls in a row, then one ordinary call.
		for i := 0; i < 20; i++ {
			if _, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, "conf-ow", "OW-2", "", nil, nil, nil); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		t.probe(c, "20 oneway Puts")
		versions, _, _, err := rec.History().Call(t.Ctx(), c, "conf-ow", "OW-2", nil, nil)
		if t.noErr("History", err) && len(versions) != 20 {
			t.Errorf("20 oneway Puts wrote %d versions", len(versions))
		}
	})

	register("oneway_method_errors", "oneway calls that fail in the method get no error reply", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-owe", "E-1", "x")
		current := t.listKeys(c, "for RetireKey of the current KEK").current
		big := strings.Repeat("z", int(*flagMaxBody)+1)
		t.runOneway([]onewayCall{
			{"Put to a bad collection (InvalidParameter)", func(c *varlink.Connection) error {
				_, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, "BAD NAME", "X", "", nil, nil, nil)
				return err
			}},
			{"Get of a missing record (NotFound)", func(c *varlink.Connection) error {
				_, err := rec.Get().Send(t.Ctx(), c, varlink.Oneway, "conf-owe", "NOPE", nil)
				return err
			}},
			{"Put with a wrong if_version (Conflict)", func(c *varlink.Connection) error {
				_, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, "conf-owe", "E-1", "", i64(9), nil, nil)
				return err
			}},
			{"Put over the size limit (TooLarge)", func(c *varlink.Connection) error {
				_, err := rec.Put().Send(t.Ctx(), c, varlink.Oneway, "conf-owe", "E-2", b64(big), nil, nil, nil)
				return err
			}},
			{"List with limit 0 (InvalidParameter)", func(c *varlink.Connection) error {
				_, err := rec.List().Send(t.Ctx(), c, varlink.Oneway, "conf-owe", nil, i64(0))
				return err
			}},
			{"RetireKey of the current KEK (KeyInUse)", func(c *varlink.Connection) error {
				_, err := adm.RetireKey().Send(t.Ctx(), c, varlink.Oneway, current)
				return err
			}},
			{"Rewrap with limit 10001 (InvalidParameter)", func(c *varlink.Connection) error {
				_, err := adm.Rewrap().Send(t.Ctx(), c, varlink.Oneway, i64(10001))
				return err
			}},
			{"Seal of a plain key file (InvalidParameter)", func(c *varlink.Connection) error {
				_, err := adm.Seal().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
		})
	})

	register("oneway_protocol_errors", "oneway calls that would get a protocol error get no reply", func(t *T) {
		t.runOneway([]onewayCall{
			{"io.vaultd.records.Nope (MethodNotFound)", sendRaw("io.vaultd.records.Nope", nil, varlink.Oneway)},
			{"io.nothing.Get (InterfaceNotFound)", sendRaw("io.nothing.Get", nil, varlink.Oneway)},
			{"NoDot (InterfaceNotFound)", sendRaw("NoDot", nil, varlink.Oneway)},
			{"Export without more (ExpectedMore)", func(c *varlink.Connection) error {
				_, err := aud.Export().Send(t.Ctx(), c, varlink.Oneway, nil, nil, nil, nil)
				return err
			}},
			{"GetInterfaceDescription(io.nothing) (InterfaceNotFound)", func(c *varlink.Connection) error {
				_, err := svc.GetInterfaceDescription().Send(t.Ctx(), c, varlink.Oneway, "io.nothing")
				return err
			}},
			{"GetInterfaceDescription without interface (InvalidParameter)",
				sendRaw("org.varlink.service.GetInterfaceDescription", map[string]interface{}{}, varlink.Oneway)},
		})
	})

	register("oneway_streamed_methods", "oneway Verify, Export (with more), and every other method get no reply", func(t *T) {
		t.runOneway([]onewayCall{
			{"Verify", func(c *varlink.Connection) error {
				_, err := aud.Verify().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"Head", func(c *varlink.Connection) error {
				_, err := aud.Head().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"Status", func(c *varlink.Connection) error {
				_, err := adm.Status().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"ReloadPolicy", func(c *varlink.Connection) error {
				_, err := adm.ReloadPolicy().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"ListKeys", func(c *varlink.Connection) error {
				_, err := adm.ListKeys().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"Rewrap", func(c *varlink.Connection) error {
				_, err := adm.Rewrap().Send(t.Ctx(), c, varlink.Oneway, nil)
				return err
			}},
			{"RotateKey", func(c *varlink.Connection) error {
				_, err := adm.RotateKey().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"GetInfo", func(c *varlink.Connection) error {
				_, err := svc.GetInfo().Send(t.Ctx(), c, varlink.Oneway)
				return err
			}},
			{"List", func(c *varlink.Connection) error {
				_, err := rec.List().Send(t.Ctx(), c, varlink.Oneway, "conf-ow", nil, nil)
				return err
			}},
			{"History", func(c *varlink.Connection) error {
				_, err := rec.History().Send(t.Ctx(), c, varlink.Oneway, "conf-ow", "OW-1", nil, nil)
				return err
			}},
			{"Delete of a missing record", func(c *varlink.Connection) error {
				_, err := rec.Delete().Send(t.Ctx(), c, varlink.Oneway, "conf-ow", "NOPE", nil)
				return err
			}},
		})
		// The Go client refuses more+oneway together; send those bytes raw.
		r := t.Raw()
		for _, msg := range []string{
			`{"method":"io.vaultd.audit.Export","parameters":{},"more":true,"oneway":true}`,
			`{"method":"io.vaultd.audit.Verify","more":true,"oneway":true}`,
			`{"method":"io.vaultd.audit.Export","parameters":{"from_seq":1099511627776},"more":true,"oneway":true}`,
		} {
			r.Send(msg, `{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.vaultd.admin"}}`)
			raw, m := t.recv(r, msg)
			if d, _ := params(m)["description"].(string); !strings.Contains(d, "interface io.vaultd.admin") {
				t.Errorf("after %s the next message read was %s, not the reply to the following call", msg, raw)
				return
			}
		}
	})

	register("oneway_with_upgrade", `"oneway" with "upgrade" gets no reply either (not even the upgrade error)`, func(t *T) {
		t.runOneway([]onewayCall{
			{"Status with upgrade", func(c *varlink.Connection) error {
				_, err := adm.Status().Send(t.Ctx(), c, varlink.Oneway|varlink.Upgrade)
				return err
			}},
		})
	})

	register("upgrade_rejected", `"upgrade":true is org.varlink.service.InvalidParameter "upgrade", never accepted`, func(t *T) {
		c := t.Dial()
		receive, err := aud.Head().Upgrade(t.Ctx(), c)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		lines, _, _, _, _, _, conn, err := receive(t.Ctx())
		if t.wantErr("Head with upgrade", err, "org.varlink.service.InvalidParameter") {
			if e, ok := err.(*varlink.InvalidParameter); !ok || e.Parameter != "upgrade" {
				t.Errorf("Head with upgrade: %s, want parameter \"upgrade\"", describe(err))
			}
		}
		if conn != nil || lines != 0 {
			t.Errorf("Head with upgrade was answered as accepted (lines %d)", lines)
		}
		// Still varlink afterwards: the next call is answered as usual (or
		// the connection is closed; never raw bytes).
		_, product, _, _, _, err := svc.GetInfo().Call(t.Ctx(), c)
		if err != nil && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("GetInfo after a rejected upgrade: %s", describe(err))
		} else if err == nil && product != "vaultd" {
			t.Errorf("GetInfo after a rejected upgrade: product %q", product)
		}
	})

	register("upgrade_rejected_every_method", `"upgrade":true is InvalidParameter "upgrade" for every method`, func(t *T) {
		for _, m := range []struct {
			method string
			params map[string]interface{}
		}{
			{"org.varlink.service.GetInfo", nil},
			{"org.varlink.service.GetInterfaceDescription", map[string]interface{}{"interface": "io.vaultd.admin"}},
			{"io.vaultd.records.Put", map[string]interface{}{"collection": "conf-up", "id": "U-0", "data": ""}},
			{"io.vaultd.records.Get", map[string]interface{}{"collection": "conf-up", "id": "U-0"}},
			{"io.vaultd.records.Delete", map[string]interface{}{"collection": "conf-up", "id": "U-0"}},
			{"io.vaultd.records.List", map[string]interface{}{"collection": "conf-up"}},
			{"io.vaultd.records.History", map[string]interface{}{"collection": "conf-up", "id": "U-0"}},
			{"io.vaultd.audit.Head", nil},
			{"io.vaultd.audit.Export", map[string]interface{}{}},
			{"io.vaultd.audit.Verify", nil},
			{"io.vaultd.audit.Prove", map[string]interface{}{"seq": 0}},
			{"io.vaultd.admin.Status", nil},
			{"io.vaultd.admin.ReloadPolicy", nil},
			{"io.vaultd.admin.RotateKey", nil},
			{"io.vaultd.admin.Rewrap", map[string]interface{}{"limit": 1}},
			{"io.vaultd.admin.ListKeys", nil},
			{"io.vaultd.admin.RetireKey", map[string]interface{}{"version": 1}},
			{"io.vaultd.admin.Unseal", map[string]interface{}{"passphrase": "not the passphrase"}},
			{"io.vaultd.admin.Seal", nil},
			{"io.vaultd.admin.Backup", nil},
		} {
			c := t.Dial()
			if m.params == nil {
				m.params = map[string]interface{}{} // this check is about upgrade, not null
			}
			receive, err := c.Upgrade(t.Ctx(), m.method, m.params)
			if err != nil {
				t.Errorf("%s: send: %v", m.method, err)
				continue
			}
			var out map[string]interface{}
			_, conn, err := receive(t.Ctx(), &out)
			if t.wantErr(m.method+" with upgrade", err, "org.varlink.service.InvalidParameter") {
				if e, ok := err.(*varlink.InvalidParameter); !ok || e.Parameter != "upgrade" {
					t.Errorf("%s with upgrade: %s", m.method, describe(err))
				}
			}
			if conn != nil {
				t.Errorf("%s with upgrade was accepted: %v", m.method, out)
			}
		}
	})

	register("upgrade_not_executed", "a call rejected for upgrade is not executed", func(t *T) {
		c := t.Dial()
		receive, err := rec.Put().Upgrade(t.Ctx(), c, "conf-up", "U-1", b64("must not be written"), nil, nil, nil)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		v, _, _, err := receive(t.Ctx())
		t.wantErr("Put with upgrade", err, "org.varlink.service.InvalidParameter")
		if v != 0 {
			t.Errorf("Put with upgrade answered version %d", v)
		}
		c2 := t.Dial()
		_, _, _, _, err = rec.Get().Call(t.Ctx(), c2, "conf-up", "U-1", nil)
		t.wantErr("Get of the record a rejected upgrade Put named", err, "io.vaultd.records.NotFound")
		// Nor is a RotateKey: no new KEK version.
		before := t.listKeys(c2, "before RotateKey with upgrade")
		recvRotate, err := adm.RotateKey().Upgrade(t.Ctx(), c2)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		_, _, _, _, err = recvRotate(t.Ctx())
		t.wantErr("RotateKey with upgrade", err, "org.varlink.service.InvalidParameter")
		if after := t.listKeys(t.Dial(), "after RotateKey with upgrade"); after.String() != before.String() {
			t.Errorf("a RotateKey rejected for upgrade changed the keys: %v, then %v", before, after)
		}
	})

	register("more_on_plain_methods", `"more":true on a method that does not stream gets one ordinary reply`, func(t *T) {
		c := t.Dial()
		recvStatus, err := c.Send(t.Ctx(), "io.vaultd.admin.Status", nil, varlink.More)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		var st struct{ State string }
		flags, err := recvStatus(t.Ctx(), &st)
		if t.noErr("Status with more", err) && (flags != 0 || st.State != "serving") {
			t.Errorf("Status with more: flags %d state %q", flags, st.State)
		}
		recvVerify, err := aud.Verify().Send(t.Ctx(), c, varlink.More)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		lines, _, _, _, _, flags, err := recvVerify(t.Ctx())
		if t.noErr("Verify with more", err) && (flags != 0 || lines < 1) {
			t.Errorf("Verify with more: flags %d lines %d", flags, lines)
		}
		recvInfo, err := svc.GetInfo().Send(t.Ctx(), c, varlink.More)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		_, product, _, _, _, flags, err := recvInfo(t.Ctx())
		if t.noErr("GetInfo with more", err) && (flags != 0 || product != "vaultd") {
			t.Errorf("GetInfo with more: flags %d product %q", flags, product)
		}
	})

	register("pipeline_puts_in_order", "64 Puts sent before any reply is read are answered in order", func(t *T) {
		c := t.Dial()
		const n = 64
		var receives []func(ctx ctxT) (int64, uint64, error)
		for i := 0; i < n; i++ {
			r, err := rec.Put().Send(t.Ctx(), c, 0, "conf-pipe", "P-1", b64(fmt.Sprint(i)), nil, nil, nil)
			if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			receives = append(receives, r)
		}
		for i, r := range receives {
			v, _, err := r(t.Ctx())
			if !t.noErr(fmt.Sprintf("reply %d", i), err) {
				return
			}
			if v != int64(i+1) {
				t.Fatalf("reply %d: version %d, want %d (out of order)", i, v, i+1)
			}
		}
	})

	register("pipeline_mixed_methods", "calls of every interface, a stream among them, sent at once, answered in order", func(t *T) {
		c := t.Dial()
		t.put(c, "conf-mix", "M-1", "mixed")
		var checks []func()
		add := func(f func()) { checks = append(checks, f) }
		ri, _ := svc.GetInfo().Send(t.Ctx(), c, 0)
		add(func() {
			_, product, _, _, _, _, err := ri(t.Ctx())
			if t.noErr("GetInfo", err) && product != "vaultd" {
				t.Errorf("GetInfo out of order: product %q", product)
			}
		})
		rp, _ := rec.Put().Send(t.Ctx(), c, 0, "conf-mix", "M-1", b64("again"), nil, nil, nil)
		add(func() {
			v, _, err := rp(t.Ctx())
			if t.noErr("Put", err) && v != 2 {
				t.Errorf("Put out of order: version %d", v)
			}
		})
		re, _ := aud.Export().Send(t.Ctx(), c, varlink.More, nil, nil, nil, nil)
		add(func() {
			n := 0
			for {
				lines, flags, err := re(t.Ctx())
				if !t.noErr("Export", err) {
					t.Fatalf("stream broken")
				}
				if n == 0 && (len(lines) == 0 || !strings.Contains(lines[0], "vaultd-audit-export/1")) {
					t.Fatalf("Export out of order: first reply %v", lines)
				}
				n++
				if flags&varlink.Continues == 0 {
					break
				}
			}
		})
		rs, _ := c.Send(t.Ctx(), "io.vaultd.admin.Status", nil, 0)
		add(func() {
			var st struct{ State string }
			_, err := rs(t.Ctx(), &st)
			if t.noErr("Status", err) && st.State != "serving" {
				t.Errorf("Status out of order: state %q", st.State)
			}
		})
		rg, _ := rec.Get().Send(t.Ctx(), c, 0, "conf-mix", "M-1", nil)
		add(func() {
			v, data, _, _, _, err := rg(t.Ctx())
			if t.noErr("Get", err) && (v != 2 || data != b64("again")) {
				t.Errorf("Get out of order: version %d data %q", v, data)
			}
		})
		rn, _ := rec.Get().Send(t.Ctx(), c, 0, "conf-mix", "NOPE", nil)
		add(func() {
			_, _, _, _, _, err := rn(t.Ctx())
			t.wantErr("Get of a missing record", err, "io.vaultd.records.NotFound")
		})
		rv, _ := aud.Verify().Send(t.Ctx(), c, 0)
		add(func() {
			lines, _, hash, _, _, _, err := rv(t.Ctx())
			if t.noErr("Verify", err) && (lines < 1 || !hex64.MatchString(hash)) {
				t.Errorf("Verify out of order: lines %d hash %q", lines, hash)
			}
		})
		rd, _ := svc.GetInterfaceDescription().Send(t.Ctx(), c, 0, "io.vaultd.audit")
		add(func() {
			d, _, err := rd(t.Ctx())
			if t.noErr("GetInterfaceDescription", err) && !strings.Contains(d, "interface io.vaultd.audit") {
				t.Errorf("GetInterfaceDescription out of order")
			}
		})
		rh, _ := rec.History().Send(t.Ctx(), c, 0, "conf-mix", "M-1", nil, nil)
		add(func() {
			versions, _, _, _, err := rh(t.Ctx())
			if t.noErr("History", err) && len(versions) != 2 {
				t.Errorf("History out of order: %d versions", len(versions))
			}
		})
		rl, _ := rec.List().Send(t.Ctx(), c, 0, "conf-mix", nil, nil)
		add(func() {
			records, _, _, err := rl(t.Ctx())
			if t.noErr("List", err) && (len(records) != 1 || records[0].Id != "M-1") {
				t.Errorf("List out of order: %v", records)
			}
		})
		rx, _ := aud.Export().Send(t.Ctx(), c, 0, nil, nil, nil, nil)
		add(func() {
			_, _, err := rx(t.Ctx())
			t.wantErr("Export without more", err, "org.varlink.service.ExpectedMore")
		})
		rhd, _ := aud.Head().Send(t.Ctx(), c, 0)
		add(func() {
			lines, _, _, _, _, _, err := rhd(t.Ctx())
			if t.noErr("Head", err) && lines < 1 {
				t.Errorf("Head out of order: lines %d", lines)
			}
		})
		for _, f := range checks {
			f()
		}
	})

	register("pipeline_raw_single_write", "100 calls in one write: 100 replies, in order", func(t *T) {
		r := t.Raw()
		var msgs []string
		for i := 0; i < 100; i++ {
			if i%2 == 0 {
				msgs = append(msgs, fmt.Sprintf(`{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"%s"}}`,
					[]string{"io.vaultd.records", "io.vaultd.audit"}[i/2%2]))
			} else {
				msgs = append(msgs, fmt.Sprintf(`{"method":"io.vaultd.records.Put","parameters":{"collection":"conf-raw","id":"R-1","data":"%s"}}`, b64(fmt.Sprint(i))))
			}
		}
		if err := r.Send(msgs...); err != nil {
			t.Fatalf("send: %v", err)
		}
		version := int64(0)
		for i := 0; i < 100; i++ {
			raw, m := t.recv(r, fmt.Sprintf("reply %d", i))
			p := params(m)
			if i%2 == 0 {
				want := []string{"io.vaultd.records", "io.vaultd.audit"}[i/2%2]
				if d, _ := p["description"].(string); !strings.Contains(d, "interface "+want) {
					t.Fatalf("reply %d is not GetInterfaceDescription(%s)'s: %s", i, want, raw)
				}
			} else {
				version++
				if fmt.Sprint(p["version"]) != fmt.Sprint(version) {
					t.Fatalf("reply %d: %s, want version %d", i, raw, version)
				}
			}
		}
		if raw, _, err := r.Recv(300 * time.Millisecond); err == nil {
			t.Errorf("a 101st message: %s", raw)
		}
	})

	register("every_method_replied", "every method of every served interface gave a valid reply during this run (Unseal and Seal: in the sealed group's)", func(t *T) {
		replied := t.tap.Replied()
		var missing []string
		for _, n := range schema.Names() {
			for _, m := range schema.Interface(n).Methods {
				if replied[n+"."+m.Name] == 0 && !leftToSealedGroup(n+"."+m.Name) {
					missing = append(missing, n+"."+m.Name)
				}
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("no valid reply seen from %v", missing)
		}
	})
}
