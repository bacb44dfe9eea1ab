package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
	"vaultdconformance/gen/iovaultdaudit"
	"vaultdconformance/gen/iovaultdrecords"
	"vaultdconformance/gen/orgvarlinkservice"
)

// generatedDescriptions: the interface texts the generator built into the
// bindings, i.e. docs/*.varlink at build time.
func generatedDescriptions() []string {
	return []string{
		(&orgvarlinkservice.VarlinkInterface{}).VarlinkGetDescription(),
		(&iovaultdrecords.VarlinkInterface{}).VarlinkGetDescription(),
		(&iovaultdaudit.VarlinkInterface{}).VarlinkGetDescription(),
		(&adm.VarlinkInterface{}).VarlinkGetDescription(),
	}
}

// errName is the varlink error name behind any error the Go client or the
// generated bindings return ("" when err is not a varlink error).
func errName(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case *varlink.Error:
		return e.Name
	case *varlink.InterfaceNotFound, *varlink.MethodNotFound, *varlink.MethodNotImplemented,
		*varlink.InvalidParameter:
		return e.Error()
	}
	s := err.Error()
	if strings.HasPrefix(s, "io.vaultd.") || strings.HasPrefix(s, "org.varlink.") {
		if i := strings.IndexByte(s, '('); i > 0 {
			return s[:i]
		}
		return s
	}
	return ""
}

// describe prints an error with its parameters for failure messages.
func describe(err error) string {
	if err == nil {
		return "no error"
	}
	if e, ok := err.(*varlink.Error); ok {
		if raw, ok := e.Parameters.(*json.RawMessage); ok && raw != nil {
			return e.Name + " " + string(*raw)
		}
		return e.Name
	}
	b, _ := json.Marshal(err)
	if errName(err) != "" && string(b) != "{}" && string(b) != "null" {
		return fmt.Sprintf("%s %s", errName(err), b)
	}
	return fmt.Sprintf("%v (%T)", err, err)
}

// wantErr fails unless err is the varlink error name.
func (t *T) wantErr(what string, err error, name string) bool {
	if errName(err) != name {
		t.Errorf("%s: want %s, got %s", what, name, describe(err))
		return false
	}
	return true
}

// noErr fails on err.
func (t *T) noErr(what string, err error) bool {
	if err != nil {
		t.Errorf("%s: %s", what, describe(err))
		return false
	}
	return true
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func i64(v int64) *int64 { return &v }

func str(s string) *string { return &s }

// probe calls GetInterfaceDescription(io.vaultd.admin) on c and checks that
// the next message read is its reply: after a oneway call, nothing else may
// come first.
func (t *T) probe(c *varlink.Connection, after string) {
	desc, err := orgvarlinkservice.GetInterfaceDescription().Call(t.Ctx(), c, "io.vaultd.admin")
	if err != nil {
		t.Errorf("after %s: the next message read was not the reply to the following call: %s", after, describe(err))
		return
	}
	if !strings.Contains(desc, "interface io.vaultd.admin") {
		t.Errorf("after %s: the next message read was not the reply to the following call "+
			"(a reply to the oneway call came back; see the transcript)", after)
	}
}

// Raw is a byte-level connection (through the tap) for what the Go client
// cannot send: exact envelopes, malformed messages, one write of many calls.
type Raw struct {
	c net.Conn
	r *bufio.Reader
}

func (t *T) Raw() *Raw {
	c, err := net.Dial("unix", t.tap.Path)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.closers = append(t.closers, func() { c.Close() })
	return &Raw{c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func (r *Raw) Send(msgs ...string) error {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m)
		b.WriteByte(0)
	}
	_, err := r.c.Write([]byte(b.String()))
	return err
}

// Recv reads one message: its raw text and decoded form.
func (r *Raw) Recv(timeout time.Duration) (string, map[string]interface{}, error) {
	r.c.SetReadDeadline(time.Now().Add(timeout))
	b, err := r.r.ReadBytes(0)
	if err != nil {
		return "", nil, err
	}
	s := string(b[:len(b)-1])
	v, err := decode(b[:len(b)-1])
	if err != nil {
		return s, nil, err
	}
	m, _ := v.(map[string]interface{})
	return s, m, nil
}

// mustRecv reads one message or fails the check.
func (t *T) recv(r *Raw, what string) (string, map[string]interface{}) {
	s, m, err := r.Recv(*flagTimeout)
	if err != nil {
		t.Fatalf("%s: no reply: %v (read so far: %q)", what, err, s)
	}
	if m == nil {
		t.Fatalf("%s: reply is not a JSON object: %s", what, s)
	}
	return s, m
}

func params(m map[string]interface{}) map[string]interface{} {
	p, _ := m["parameters"].(map[string]interface{})
	return p
}

// keys lists an object's keys, sorted, for exact-field checks.
func keys(m map[string]interface{}) string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

type ctxT = context.Context

func ctxBackground() context.Context { return context.Background() }

// callBinding calls a generated binding's Call with args and returns its
// outputs (without the final error), so that a check reading only the first
// outputs survives fields being added to the method. Status uses it.
func callBinding(fn interface{}, args ...interface{}) ([]interface{}, error) {
	in := make([]reflect.Value, len(args))
	for i, a := range args {
		in[i] = reflect.ValueOf(a)
	}
	outs := reflect.ValueOf(fn).Call(in)
	var err error
	if e := outs[len(outs)-1].Interface(); e != nil {
		err = e.(error)
	}
	res := make([]interface{}, len(outs)-1)
	for i := range res {
		res[i] = outs[i].Interface()
	}
	return res, err
}

// status calls io.vaultd.admin.Status through the generated binding and
// returns its state.
func (t *T) status(c *varlink.Connection) (string, error) {
	outs, err := callBinding(adm.Status().Call, t.Ctx(), c)
	if err != nil {
		return "", err
	}
	s, _ := outs[0].(string)
	return s, nil
}

// statusFields calls io.vaultd.admin.Status through the raw client and
// returns its reply's fields by name (the tap validates the reply).
func (t *T) statusFields(c *varlink.Connection) (map[string]interface{}, error) {
	receive, err := c.Send(t.Ctx(), "io.vaultd.admin.Status", nil, 0)
	if err != nil {
		return nil, err
	}
	var st map[string]interface{}
	_, err = receive(t.Ctx(), &st)
	return st, err
}

// named maps a binding's outputs to the output field names the served
// description declares for method, pointers followed (nil stays nil).
func named(method string, outs []interface{}) map[string]interface{} {
	m := map[string]interface{}{}
	_, meth := docsSchema.Method(method)
	if meth == nil {
		return m
	}
	for i, f := range meth.Out.Fields {
		if i >= len(outs) {
			break
		}
		v := reflect.ValueOf(outs[i])
		if v.Kind() == reflect.Ptr {
			if v.IsNil() {
				m[f.Name] = nil
				continue
			}
			v = v.Elem()
		}
		m[f.Name] = v.Interface()
	}
	return m
}
