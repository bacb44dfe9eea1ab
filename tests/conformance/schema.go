package main

// Checks JSON messages against parsed varlink interface descriptions: every
// reply must match its method's declared output type, every error must be
// one the called method's interface (or org.varlink.service) declares, with
// exactly the declared parameters.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/varlink/go/varlink/idl"
)

// Schema holds the interfaces that replies are checked against.
type Schema struct {
	ifaces map[string]*idl.IDL
}

func NewSchema() *Schema {
	return &Schema{ifaces: map[string]*idl.IDL{}}
}

func (s *Schema) Add(d *idl.IDL) { s.ifaces[d.Name] = d }

func (s *Schema) Interface(name string) *idl.IDL { return s.ifaces[name] }

func (s *Schema) Names() []string {
	var n []string
	for k := range s.ifaces {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// split cuts "a.b.c.Name" into interface "a.b.c" and member "Name".
func split(full string) (string, string) {
	i := strings.LastIndex(full, ".")
	if i < 0 {
		return "", full
	}
	return full[:i], full[i+1:]
}

func (s *Schema) Method(full string) (*idl.IDL, *idl.Method) {
	iface, name := split(full)
	d := s.ifaces[iface]
	if d == nil {
		return nil, nil
	}
	for _, m := range d.Methods {
		if m.Name == name {
			return d, m
		}
	}
	return d, nil
}

func (s *Schema) Error(full string) (*idl.IDL, *idl.Error) {
	iface, name := split(full)
	d := s.ifaces[iface]
	if d == nil {
		return nil, nil
	}
	for _, e := range d.Errors {
		if e.Name == name {
			return d, e
		}
	}
	return d, nil
}

// decode parses JSON keeping numbers exact (json.Number).
func decode(b []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func kindName(v interface{}) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// CheckValue appends to probs every way v breaks type t (aliases resolved
// in interface d). path names the value in messages.
func (s *Schema) CheckValue(d *idl.IDL, t *idl.Type, v interface{}, path string, probs *[]string) {
	bad := func(format string, a ...interface{}) {
		*probs = append(*probs, path+": "+fmt.Sprintf(format, a...))
	}
	if t.Kind == idl.TypeMaybe {
		if v == nil {
			return
		}
		s.CheckValue(d, t.ElementType, v, path, probs)
		return
	}
	if v == nil {
		bad("null, but the type is not optional")
		return
	}
	switch t.Kind {
	case idl.TypeBool:
		if _, ok := v.(bool); !ok {
			bad("%s, want bool", kindName(v))
		}
	case idl.TypeInt:
		n, ok := v.(json.Number)
		if !ok {
			bad("%s, want int", kindName(v))
		} else if _, err := n.Int64(); err != nil {
			bad("%s is not an int", n)
		}
	case idl.TypeFloat:
		if _, ok := v.(json.Number); !ok {
			bad("%s, want float", kindName(v))
		}
	case idl.TypeString:
		if _, ok := v.(string); !ok {
			bad("%s, want string", kindName(v))
		}
	case idl.TypeObject:
		if _, ok := v.(map[string]interface{}); !ok {
			bad("%s, want object", kindName(v))
		}
	case idl.TypeEnum:
		str, ok := v.(string)
		if !ok {
			bad("%s, want enum string", kindName(v))
			return
		}
		for _, f := range t.Fields {
			if f.Name == str {
				return
			}
		}
		bad("%q is not one of the enum's values", str)
	case idl.TypeArray:
		a, ok := v.([]interface{})
		if !ok {
			bad("%s, want array", kindName(v))
			return
		}
		for i, e := range a {
			s.CheckValue(d, t.ElementType, e, fmt.Sprintf("%s[%d]", path, i), probs)
		}
	case idl.TypeMap:
		m, ok := v.(map[string]interface{})
		if !ok {
			bad("%s, want map", kindName(v))
			return
		}
		for k, e := range m {
			s.CheckValue(d, t.ElementType, e, fmt.Sprintf("%s[%q]", path, k), probs)
		}
	case idl.TypeAlias:
		for _, a := range d.Aliases {
			if a.Name == t.Alias {
				s.CheckValue(d, a.Type, v, path, probs)
				return
			}
		}
		bad("type %s is not declared in %s", t.Alias, d.Name)
	case idl.TypeStruct:
		m, ok := v.(map[string]interface{})
		if !ok {
			bad("%s, want object", kindName(v))
			return
		}
		declared := map[string]bool{}
		for _, f := range t.Fields {
			declared[f.Name] = true
			fv, present := m[f.Name]
			if !present {
				if f.Type.Kind != idl.TypeMaybe {
					bad("required field %q missing", f.Name)
				}
				continue
			}
			s.CheckValue(d, f.Type, fv, path+"."+f.Name, probs)
		}
		var extra []string
		for k := range m {
			if !declared[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		for _, k := range extra {
			bad("field %q is not declared", k)
		}
	default:
		bad("unknown type kind %d", t.Kind)
	}
}

// CallInfo is what the tap remembers of a call until its reply comes.
type CallInfo struct {
	Method    string // "" when the message was not a valid call
	More      bool
	Oneway    bool
	Upgrade   bool
	Malformed string // why it is not a valid call, or ""
}

// ParseCall reads the call envelope the way a varlink service should.
func ParseCall(msg []byte) CallInfo {
	v, err := decode(msg)
	if err != nil {
		return CallInfo{Malformed: "not JSON: " + err.Error()}
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return CallInfo{Malformed: "not an object"}
	}
	c := CallInfo{}
	if s, ok := m["method"].(string); ok {
		c.Method = s
	} else {
		c.Malformed = "no method string"
	}
	flag := func(k string) bool {
		b, _ := m[k].(bool)
		if _, present := m[k]; present {
			if _, isBool := m[k].(bool); !isBool && c.Malformed == "" {
				c.Malformed = k + " is not a bool"
			}
		}
		return b
	}
	c.More, c.Oneway, c.Upgrade = flag("more"), flag("oneway"), flag("upgrade")
	if p, present := m["parameters"]; present && p != nil {
		if _, isObj := p.(map[string]interface{}); !isObj && c.Malformed == "" {
			c.Malformed = "parameters is not an object"
		}
	}
	return c
}

// Reply is one decoded reply message.
type Reply struct {
	Error      string
	Parameters map[string]interface{}
	Continues  bool
}

// CheckReply validates one reply message to call. It returns the decoded
// reply (when it decodes) and the problems found.
func (s *Schema) CheckReply(call CallInfo, msg []byte) (*Reply, []string) {
	var probs []string
	bad := func(format string, a ...interface{}) {
		probs = append(probs, fmt.Sprintf(format, a...))
	}
	v, err := decode(msg)
	if err != nil {
		bad("reply is not JSON: %v", err)
		return nil, probs
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		bad("reply is %s, not an object", kindName(v))
		return nil, probs
	}
	r := &Reply{Parameters: map[string]interface{}{}}
	for k := range m {
		if k != "parameters" && k != "continues" && k != "error" {
			bad("reply envelope has undeclared field %q", k)
		}
	}
	if c, present := m["continues"]; present {
		b, isBool := c.(bool)
		if !isBool {
			bad("continues is %s, not bool", kindName(c))
		}
		r.Continues = b
	}
	if p, present := m["parameters"]; present {
		po, isObj := p.(map[string]interface{})
		if !isObj {
			bad("parameters is %s, not an object", kindName(p))
		} else {
			r.Parameters = po
		}
	}
	if e, present := m["error"]; present {
		name, isStr := e.(string)
		if !isStr {
			bad("error is %s, not a string", kindName(e))
			return r, probs
		}
		r.Error = name
		if r.Continues {
			bad("error reply %s carries continues:true", name)
		}
		eiface, _ := split(name)
		ciface, _ := split(call.Method)
		if call.Malformed != "" && eiface != "org.varlink.service" {
			bad("error %s to a malformed call (%s): only org.varlink.service errors fit", name, call.Malformed)
		}
		if eiface != ciface && eiface != "org.varlink.service" {
			bad("error %s is not from the interface of the method called (%s) nor org.varlink.service", name, call.Method)
		}
		// A well-formed call of a declared method fails with its own
		// interface's errors; of org.varlink.service's, only ExpectedMore
		// is about the call rather than the envelope.
		if eiface == "org.varlink.service" && ciface != eiface && call.Malformed == "" && !call.Upgrade &&
			name != "org.varlink.service.ExpectedMore" {
			if _, m := s.Method(call.Method); m != nil {
				bad("error %s to %s, a declared method: its failures are %s's own errors", name, call.Method, ciface)
			}
		}
		d, decl := s.Error(name)
		if d == nil {
			bad("error %s: interface %s is not known", name, eiface)
		} else if decl == nil {
			bad("error %s is not declared by interface %s", name, eiface)
		} else if decl.Type == nil {
			if len(r.Parameters) > 0 {
				bad("error %s declares no parameters but carries some", name)
			}
		} else {
			s.CheckValue(d, decl.Type, r.Parameters, name, &probs)
		}
		return r, probs
	}
	if call.Malformed != "" {
		bad("a non-error reply to a malformed call (%s)", call.Malformed)
		return r, probs
	}
	if call.Upgrade {
		bad("a non-error reply to an \"upgrade\":true call: vaultd accepts no upgrade")
	}
	if r.Continues && !call.More {
		bad("continues:true in a reply to a call without more:true")
	}
	d, meth := s.Method(call.Method)
	if meth == nil {
		bad("a non-error reply to %s, which no known interface declares", call.Method)
		return r, probs
	}
	s.CheckValue(d, meth.Out, r.Parameters, call.Method+" reply", &probs)
	return r, probs
}
