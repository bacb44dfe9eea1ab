// vaultd-conformance: checks that the reference Go varlink implementation
// (github.com/varlink/go, Debian's golang-github-varlink-go-dev) works
// unchanged against vaultd: its client, its IDL parser and bindings made by
// its generator. See README.md. Built by build.sh, never with plain `go
// build` in the source tree (the bindings are generated at build time).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"

	"vaultdconformance/gen/orgvarlinkservice"
)

var (
	flagSocket         = flag.String("socket", "", "vaultd's socket (required)")
	flagCase           = flag.String("case", "", "run these checks (comma-separated names)")
	flagGroup          = flag.String("group", "", "run a group of checks (see -list)")
	flagList           = flag.Bool("list", false, "list groups and checks, then exit")
	flagMaxBody        = flag.Int64("max-body", 65536, "the daemon's --max-body (for TooLarge)")
	flagPolicy         = flag.String("policy", "", "the daemon's policy file (admin InvalidParameter: it is broken, reloaded, restored)")
	flagPassphraseFile = flag.String("passphrase-file", "", "the passphrase that seals the daemon's key file (the sealed group)")
	flagTimeout        = flag.Duration("timeout", 20*time.Second, "longest wait for one reply")
)

// Case is one check: one output line.
type Case struct {
	Name string
	Doc  string
	Run  func(*T)
}

var registry = map[string]*Case{}

func register(name, doc string, run func(*T)) {
	if registry[name] != nil {
		panic("duplicate check " + name)
	}
	registry[name] = &Case{Name: name, Doc: doc, Run: run}
}

// Groups, each run against a daemon set up for it (README.md says how).
// Together they provoke every declared error but InternalError (an
// unexpected failure cannot be provoked on purpose; should one come, the
// tap still checks its shape), MethodNotImplemented (vaultd implements
// every method it declares) and PermissionDenied (vaultd answers its own
// interfaces' AccessDenied instead).
var groups = []struct {
	Name   string
	Setup  string
	Checks []string
}{
	{"main", "a fresh vault, caller with roles admin, auditor and service (collections *), " +
		"vaultd --max-body 65536, -policy PATH given", []string{
		"validator_rejects_bad_replies", "getinfo_null_parameters", "null_parameters_methods_without_input", "null_parameters_with_input",
		"idl_docs_parse", "idl_served_parse", "served_descriptions_match_docs", "getinterfacedescription_errors",
		"bindings_records_put_get", "bindings_records_delete", "bindings_records_list", "bindings_records_history",
		"bindings_audit_head", "bindings_audit_verify", "audit_verify_one_per_caller", "bindings_admin_status", "bindings_admin_reload_policy",
		"records_not_found", "records_conflict", "records_invalid_parameter", "records_too_large",
		"audit_invalid_parameter", "audit_invalid_parameter_time", "admin_invalid_parameter",
		"bindings_admin_list_keys", "bindings_admin_rotate_key", "bindings_admin_rewrap", "bindings_admin_retire_key",
		"bindings_admin_rotate_signing_key", "seal_plain_key",
		"key_in_use", "key_rotation_lifecycle", "rewrap_invalid_limit", "retire_key_invalid_version",
		"protocol_method_not_found", "protocol_interface_not_found", "protocol_expected_more",
		"protocol_malformed_messages", "varlink_invalid_parameter_only_parameter",
		"oneway_call_executed_no_reply", "oneway_method_errors", "oneway_protocol_errors",
		"oneway_streamed_methods", "oneway_with_upgrade",
		"upgrade_rejected", "upgrade_rejected_every_method", "upgrade_not_executed",
		"stream_export", "stream_export_range", "stream_export_by_time", "more_on_plain_methods",
		"pipeline_puts_in_order", "pipeline_mixed_methods", "pipeline_raw_single_write",
		"backup_without_fd", "backup_with_fd",
		"prove_inclusion_and_consistency_check_with_go_tlog", "prove_invalid_parameters",
		"audit_add_cosignatures",
		"collections_settings", "collections_json_content", "collections_implicit_and_list", "names_unicode_nfc",
		"records_hold_due_dispose", "records_find", "records_private_ids", "records_private_name", "records_rebuild_index",
		"every_method_replied",
	}},
	{"denied-service", "caller is a uid with role service for collection conf-svc only", []string{
		"denied_records_methods", "denied_audit_methods", "denied_admin_reload", "denied_admin_keys",
		"denied_admin_seal", "denied_admin_backup", "service_allowed_calls", "oneway_denied",
	}},
	{"denied-stranger", "caller is a uid the policy does not know", []string{
		"stranger_denied", "stranger_service_interface",
	}},
	{"integrity", "record integ/INTEG-1 version 1 altered on disk, and an audit line altered", []string{
		"integrity_record", "integrity_trail", "integrity_status", "oneway_integrity",
	}},
	{"records-inconsistent", "record meta/META-1's head rolled back from version 2 to 1 on disk, the trail intact", []string{
		"records_inconsistent",
	}},
	{"storage-full", "a fresh vault on a small (24 MiB) file system", []string{
		"storage_full",
	}},
	{"sealed", "a fresh vault whose key file is sealed by the passphrase in -passphrase-file, started sealed; " +
		"caller with roles admin, auditor and service (collections *); the checks run in this order", []string{
		"sealed_status", "sealed_records", "sealed_admin_keys", "sealed_audit_head_verify", "sealed_audit_export",
		"unseal_wrong_passphrase", "unsealed_records_work", "seal_again",
		"sealed_upgrade_rejected", "oneway_unseal_seal", "sealed_methods_replied",
	}},
}

type stop struct{}

// T is the state of one running check.
type T struct {
	name    string
	tap     *Tap
	fails   []string
	closers []func()
}

func (t *T) Errorf(format string, a ...interface{}) {
	t.fails = append(t.fails, fmt.Sprintf(format, a...))
}

func (t *T) Fatalf(format string, a ...interface{}) {
	t.Errorf(format, a...)
	panic(stop{})
}

// Ctx is a context for one call: a missing reply fails, it does not hang.
func (t *T) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), *flagTimeout)
	t.closers = append(t.closers, cancel)
	return ctx
}

// Dial opens a varlink.Connection (the reference client) through the tap.
func (t *T) Dial() *varlink.Connection {
	c, err := varlink.NewConnection(context.Background(), "unix:"+t.tap.Path)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.closers = append(t.closers, func() { c.Close() })
	return c
}

var (
	schema       = NewSchema()
	docsSchema   = NewSchema()         // the descriptions built into the bindings
	docs         = map[string]string{} // interface name -> description built into the bindings
	served       = map[string]string{} // interface name -> GetInterfaceDescription text
	servedNames  []string              // GetInfo's interfaces
	bootProblems []string
)

// bootstrap learns the served descriptions (directly, not through the tap)
// with the generated org.varlink.service bindings, which send no
// "parameters" at all, so this works even where a null would be refused.
func bootstrap(socket string) {
	for _, d := range generatedDescriptions() {
		parsed, err := idl.New(d)
		if err != nil {
			bootProblems = append(bootProblems, "a description built into the bindings does not parse: "+err.Error())
			continue
		}
		docs[parsed.Name] = d
		docsSchema.Add(parsed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *flagTimeout)
	defer cancel()
	c, err := varlink.NewConnection(ctx, "unix:"+socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vaultd-conformance: cannot connect to %s: %v\n", socket, err)
		os.Exit(2)
	}
	defer c.Close()
	_, product, _, _, names, err := orgvarlinkservice.GetInfo().Call(ctx, c)
	if err != nil {
		bootProblems = append(bootProblems, fmt.Sprintf("GetInfo (no parameters): %v", err))
	} else if product == "" || len(names) == 0 {
		bootProblems = append(bootProblems, "GetInfo returned no product or no interfaces")
	}
	servedNames = names
	for _, n := range names {
		desc, err := orgvarlinkservice.GetInterfaceDescription().Call(ctx, c, n)
		if err != nil {
			bootProblems = append(bootProblems, fmt.Sprintf("GetInterfaceDescription(%s): %v", n, err))
			continue
		}
		served[n] = desc
		parsed, err := idl.New(desc)
		if err != nil {
			bootProblems = append(bootProblems, fmt.Sprintf("served description of %s does not parse: %v", n, err))
			continue
		}
		if parsed.Name != n {
			bootProblems = append(bootProblems, fmt.Sprintf("GetInterfaceDescription(%s) describes %s", n, parsed.Name))
			continue
		}
		schema.Add(parsed)
	}
	// Replies are checked against the served descriptions; where one is
	// missing or broken, against the docs (and idl_served_parse fails).
	for name, d := range docs {
		if schema.Interface(name) == nil {
			parsed, _ := idl.New(d)
			schema.Add(parsed)
		}
	}
}

func runCase(tap *Tap, c *Case) bool {
	t := &T{name: c.Name, tap: tap}
	tap.Begin()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stop); !ok {
					t.Errorf("panic: %v", r)
				}
			}
		}()
		c.Run(t)
	}()
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
	violations, transcript := tap.End(3 * time.Second)
	for _, v := range violations {
		t.fails = append(t.fails, "invalid message: "+v)
	}
	if len(t.fails) == 0 {
		fmt.Printf("ok %s\n", c.Name)
		return true
	}
	fmt.Printf("FAIL %s: %s\n", c.Name, strings.Join(t.fails, " | "))
	for _, l := range transcript {
		fmt.Printf("#   %s\n", l)
	}
	return false
}

func main() {
	flag.Parse()
	if *flagList {
		for _, g := range groups {
			fmt.Printf("group %s (%s):\n", g.Name, g.Setup)
			for _, n := range g.Checks {
				fmt.Printf("  %-40s %s\n", n, registry[n].Doc)
			}
		}
		return
	}
	var names []string
	for _, n := range strings.Split(*flagCase, ",") {
		if n != "" {
			names = append(names, n)
		}
	}
	if *flagGroup != "" {
		found := false
		for _, g := range groups {
			if g.Name == *flagGroup {
				names, found = append(names, g.Checks...), true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "vaultd-conformance: no group %q (see -list)\n", *flagGroup)
			os.Exit(2)
		}
	}
	if *flagSocket == "" || len(names) == 0 {
		fmt.Fprintln(os.Stderr, "usage: vaultd-conformance -socket PATH (-group NAME | -case NAME[,NAME...]) [-max-body N] [-policy FILE]; -list for the checks")
		os.Exit(2)
	}
	for _, n := range names {
		if registry[n] == nil {
			fmt.Fprintf(os.Stderr, "vaultd-conformance: no check %q (see -list)\n", n)
			os.Exit(2)
		}
	}
	bootstrap(*flagSocket)
	tap, err := NewTap(*flagSocket, schema)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vaultd-conformance: tap: %v\n", err)
		os.Exit(2)
	}
	defer tap.Close()
	passed, failed := 0, 0
	for _, n := range names {
		if runCase(tap, registry[n]) {
			passed++
		} else {
			failed++
		}
	}
	for _, e := range tap.SeenErrors() {
		fmt.Printf("# seen-error %s\n", e)
	}
	replied := tap.Replied()
	var ms []string
	for m := range replied {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	for _, m := range ms {
		fmt.Printf("# replied %s %d\n", m, replied[m])
	}
	fmt.Printf("# vaultd-conformance: %d checks ok, %d failed\n", passed, failed)
	if failed > 0 {
		tap.Close()
		os.Exit(1)
	}
}
