package main

// org.varlink.service and the interface descriptions (items 1 and 2 of
// issue #6 §2).

import (
	"sort"
	"strings"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"

	"vaultdconformance/gen/iovaultdrecords"
	"vaultdconformance/gen/orgvarlinkservice"
)

func init() {
	register("getinfo_null_parameters",
		`varlink.Connection.GetInfo, which sends "parameters":null, is answered`, func(t *T) {
			c := t.Dial()
			var vendor, product, version, url string
			var ifaces []string
			err := c.GetInfo(t.Ctx(), &vendor, &product, &version, &url, &ifaces)
			if !t.noErr(`GetInfo with "parameters":null`, err) {
				return
			}
			sentNull := false
			for _, m := range t.tap.Sent() {
				if strings.Contains(m, `"parameters":null`) {
					sentNull = true
				}
			}
			if !sentNull {
				t.Errorf(`the Go client did not send "parameters":null (sent %q): this check no longer tests null`, t.tap.Sent())
			}
			if product != "vaultd" || vendor == "" || version == "" {
				t.Errorf("GetInfo: vendor %q product %q version %q", vendor, product, version)
			}
			want := []string{"io.vaultd.admin", "io.vaultd.audit", "io.vaultd.records", "org.varlink.service"}
			got := append([]string(nil), ifaces...)
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("GetInfo interfaces %v, want %v", ifaces, want)
			}
		})

	register("null_parameters_methods_without_input",
		`every method without (required) input answers a call with "parameters":null (varlink.Connection.Call(…, nil, …))`, func(t *T) {
			c := t.Dial()
			for _, m := range []string{"org.varlink.service.GetInfo", "io.vaultd.admin.Status",
				"io.vaultd.audit.Head", "io.vaultd.audit.Verify", "io.vaultd.admin.ReloadPolicy",
				"io.vaultd.admin.ListKeys", "io.vaultd.admin.RotateKey", "io.vaultd.admin.Rewrap"} {
				var out map[string]interface{}
				if err := c.Call(t.Ctx(), m, nil, &out); err != nil {
					t.Errorf(`%s with "parameters":null: %s`, m, describe(err))
				} else if len(out) == 0 {
					t.Errorf(`%s with "parameters":null: empty reply`, m)
				}
			}
		})

	register("null_parameters_with_input",
		`"parameters":null counts as {}: a method that needs input names the missing parameter`, func(t *T) {
			c := t.Dial()
			var out map[string]interface{}
			err := c.Call(t.Ctx(), "io.vaultd.records.Put", nil, &out)
			if t.wantErr("Put with null parameters", err, "io.vaultd.records.InvalidParameter") {
				if e, ok := iovaultdrecords.Dispatch_Error(err).(*iovaultdrecords.InvalidParameter); !ok || e.Parameter != "collection" {
					t.Errorf("Put with null parameters: want parameter \"collection\", got %s", describe(err))
				}
			}
			err = c.Call(t.Ctx(), "org.varlink.service.GetInterfaceDescription", nil, &out)
			if t.wantErr("GetInterfaceDescription with null parameters", err, "org.varlink.service.InvalidParameter") {
				if e, ok := err.(*varlink.InvalidParameter); !ok || e.Parameter != "interface" {
					t.Errorf("GetInterfaceDescription with null parameters: want parameter \"interface\", got %s", describe(err))
				}
			}
		})

	register("idl_docs_parse",
		"every docs/*.varlink file parses with the Go IDL parser (and the generator made bindings of it)", func(t *T) {
			for _, d := range generatedDescriptions() {
				if _, err := idl.New(d); err != nil {
					t.Errorf("docs description does not parse: %v", err)
				}
			}
			for _, n := range []string{"org.varlink.service", "io.vaultd.records", "io.vaultd.audit", "io.vaultd.admin"} {
				if docs[n] == "" {
					t.Errorf("no docs description names interface %s", n)
				}
			}
		})

	register("idl_served_parse",
		"GetInterfaceDescription of each interface GetInfo lists parses with the Go IDL parser", func(t *T) {
			for _, p := range bootProblems {
				t.Errorf("%s", p)
			}
			// Again with the client's own helper (varlink.Connection).
			c := t.Dial()
			var ifaces []string
			if err := c.GetInfo(t.Ctx(), nil, nil, nil, nil, &ifaces); err != nil {
				ifaces = servedNames
			}
			if len(ifaces) == 0 {
				t.Fatalf("GetInfo lists no interfaces")
			}
			for _, n := range ifaces {
				desc, err := c.GetInterfaceDescription(t.Ctx(), n)
				if !t.noErr("GetInterfaceDescription("+n+")", err) {
					continue
				}
				parsed, err := idl.New(desc)
				if err != nil {
					t.Errorf("description of %s does not parse: %v", n, err)
					continue
				}
				if parsed.Name != n {
					t.Errorf("GetInterfaceDescription(%s) describes interface %s", n, parsed.Name)
				}
				if len(parsed.Methods) == 0 {
					t.Errorf("%s declares no methods", n)
				}
			}
		})

	register("served_descriptions_match_docs",
		"GetInfo lists exactly the docs interfaces, and each served description is the docs file's text", func(t *T) {
			var want []string
			for n := range docs {
				want = append(want, n)
			}
			sort.Strings(want)
			got := append([]string(nil), servedNames...)
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("GetInfo lists %v; docs/*.varlink are %v", servedNames, want)
			}
			for _, n := range want {
				s, ok := served[n]
				if !ok {
					t.Errorf("no served description of %s", n)
					continue
				}
				if strings.TrimRight(s, "\n") != strings.TrimRight(docs[n], "\n") {
					t.Errorf("served description of %s differs from docs/%s.varlink", n, n)
				}
			}
		})

	register("getinterfacedescription_errors",
		"GetInterfaceDescription of an unknown interface is InterfaceNotFound naming it", func(t *T) {
			c := t.Dial()
			_, err := orgvarlinkservice.GetInterfaceDescription().Call(t.Ctx(), c, "io.nothing")
			if t.wantErr("GetInterfaceDescription(io.nothing)", err, "org.varlink.service.InterfaceNotFound") {
				if e, ok := err.(*varlink.InterfaceNotFound); !ok || e.Interface != "io.nothing" {
					t.Errorf("InterfaceNotFound names %s, want io.nothing", describe(err))
				}
			}
			// The upper-case names of earlier versions are gone.
			_, err = c.GetInterfaceDescription(t.Ctx(), "io.vaultd.Records")
			t.wantErr("GetInterfaceDescription(io.vaultd.Records)", err, "org.varlink.service.InterfaceNotFound")
		})
}
