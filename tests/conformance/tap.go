package main

// The tap: an in-process Unix socket proxy between every client connection
// of the checks and vaultd. It forwards bytes unchanged (and descriptors
// passed with them), and on the way it cuts the NUL-framed messages, pairs
// each reply with its call (replies come in call order; oneway calls expect
// none; a reply with continues:true keeps the call waiting) and checks each
// reply against the served interface descriptions (schema.go). So every
// reply any check receives, through the generated bindings,
// varlink.Connection or raw bytes, is validated.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

type Tap struct {
	Path   string
	target string
	dir    string
	ln     net.Listener
	schema *Schema

	mu         sync.Mutex
	nconn      int
	active     int
	idle       *sync.Cond
	violations []string
	transcript []string
	sent       []string // calls forwarded during the current check
	seenErrors map[string]int
	replied    map[string]int // valid non-error replies per method
}

const transcriptMax = 60

func NewTap(target string, schema *Schema) (*Tap, error) {
	dir, err := os.MkdirTemp("", "vaultd-conformance-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "tap.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	t := &Tap{Path: path, target: target, dir: dir, ln: ln, schema: schema,
		seenErrors: map[string]int{}, replied: map[string]int{}}
	t.idle = sync.NewCond(&t.mu)
	go t.accept()
	return t, nil
}

func (t *Tap) Close() {
	t.ln.Close()
	os.RemoveAll(t.dir)
}

func (t *Tap) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("unix", t.target)
		if err != nil {
			t.violate("tap: cannot connect to %s: %v", t.target, err)
			c.Close()
			continue
		}
		t.mu.Lock()
		t.nconn++
		t.active++
		id := t.nconn
		t.mu.Unlock()
		go t.serve(id, c.(*net.UnixConn), s.(*net.UnixConn))
	}
}

// short cuts a message for the transcript, on a character boundary.
func short(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > 400 {
		cut := 400
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + fmt.Sprintf("…(%d bytes)", len(b))
	}
	return s
}

func (t *Tap) violate(format string, a ...interface{}) {
	t.mu.Lock()
	t.violations = append(t.violations, fmt.Sprintf(format, a...))
	t.mu.Unlock()
}

func (t *Tap) note(line string) {
	t.mu.Lock()
	t.transcript = append(t.transcript, line)
	if len(t.transcript) > transcriptMax {
		t.transcript = t.transcript[len(t.transcript)-transcriptMax:]
	}
	t.mu.Unlock()
}

type pending struct {
	mu    sync.Mutex
	calls []CallInfo
}

func (t *Tap) serve(id int, client, server *net.UnixConn) {
	q := &pending{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // client -> vaultd
		defer wg.Done()
		t.forwardCalls(id, q, client, server)
		server.CloseWrite()
	}()
	go func() { // vaultd -> client
		defer wg.Done()
		r := bufio.NewReaderSize(server, 1<<16)
		for {
			msg, err := r.ReadBytes(0)
			if len(msg) > 0 && msg[len(msg)-1] == 0 {
				body := msg[:len(msg)-1]
				t.note(fmt.Sprintf("c%d < %s", id, short(body)))
				t.checkReply(id, q, body)
			} else if len(msg) > 0 {
				t.note(fmt.Sprintf("c%d < (unterminated at close) %s", id, short(msg)))
				t.violate("vaultd sent bytes without a terminating NUL: %s", short(msg))
			}
			if len(msg) > 0 {
				if _, werr := client.Write(msg); werr != nil {
					break
				}
			}
			if err != nil {
				q.mu.Lock()
				unanswered := len(q.calls)
				q.mu.Unlock()
				if err == io.EOF && unanswered > 0 {
					t.note(fmt.Sprintf("c%d < (closed by vaultd, %d calls unanswered)", id, unanswered))
				}
				break
			}
		}
		client.CloseWrite()
	}()
	wg.Wait()
	client.Close()
	server.Close()
	t.mu.Lock()
	t.active--
	t.idle.Broadcast()
	t.mu.Unlock()
}

// forwardCalls passes the client's bytes on to vaultd unchanged, and each
// descriptor (SCM_RIGHTS) with the bytes it came with, so that a call
// carrying one (Backup) reaches vaultd as the client sent it. On the way
// it notes each call for the transcript and queues it for its reply.
func (t *Tap) forwardCalls(id int, q *pending, client, server *net.UnixConn) {
	buf := make([]byte, 1<<16)
	oob := make([]byte, syscall.CmsgSpace(4*64))
	var partial []byte
	for {
		n, oobn, _, _, err := client.ReadMsgUnix(buf, oob)
		fds := unixRights(oob[:oobn])
		if n > 0 {
			partial = append(partial, buf[:n]...)
			for {
				i := bytes.IndexByte(partial, 0)
				if i < 0 {
					break
				}
				t.noteCall(id, q, partial[:i])
				partial = partial[i+1:]
			}
		}
		werr := forward(server, buf[:n], fds)
		for _, fd := range fds {
			syscall.Close(fd)
		}
		if werr != nil {
			t.note(fmt.Sprintf("c%d   write to vaultd: %v", id, werr))
			return
		}
		if err != nil {
			if len(partial) > 0 {
				t.note(fmt.Sprintf("c%d > (unterminated) %s", id, short(partial)))
			}
			return
		}
	}
}

// unixRights: the descriptors in a control message, if any.
func unixRights(oob []byte) []int {
	var fds []int
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for i := range msgs {
		if got, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// forward writes b to vaultd, the descriptors with its first byte.
func forward(server *net.UnixConn, b []byte, fds []int) error {
	if len(b) == 0 {
		return nil
	}
	if len(fds) == 0 {
		_, err := server.Write(b)
		return err
	}
	n, _, err := server.WriteMsgUnix(b, syscall.UnixRights(fds...), nil)
	if err == nil && n < len(b) {
		_, err = server.Write(b[n:])
	}
	return err
}

func (t *Tap) noteCall(id int, q *pending, body []byte) {
	call := ParseCall(body)
	t.note(fmt.Sprintf("c%d > %s", id, short(body)))
	t.mu.Lock()
	t.sent = append(t.sent, string(body))
	t.mu.Unlock()
	if !call.Oneway || call.Malformed != "" {
		q.mu.Lock()
		q.calls = append(q.calls, call)
		q.mu.Unlock()
	}
}

func (t *Tap) checkReply(id int, q *pending, body []byte) {
	q.mu.Lock()
	if len(q.calls) == 0 {
		q.mu.Unlock()
		t.violate("c%d: vaultd sent a message while no call was waiting for a reply "+
			"(a reply to a oneway call?): %s", id, short(body))
		return
	}
	call := q.calls[0]
	q.mu.Unlock()
	r, probs := t.schema.CheckReply(call, body)
	if r == nil || !r.Continues || r.Error != "" {
		q.mu.Lock()
		q.calls = q.calls[1:]
		q.mu.Unlock()
	}
	name := call.Method
	if name == "" {
		name = "(malformed call)"
	}
	for _, p := range probs {
		t.violate("reply to %s: %s; reply was %s", name, p, short(body))
	}
	if r != nil && len(probs) == 0 {
		t.mu.Lock()
		if r.Error != "" {
			t.seenErrors[r.Error]++
		} else {
			t.replied[call.Method]++
		}
		t.mu.Unlock()
	}
}

// Begin starts a new check: clears its violations, transcript and sent log.
func (t *Tap) Begin() {
	t.mu.Lock()
	t.violations, t.transcript, t.sent = nil, nil, nil
	t.mu.Unlock()
}

// End waits (a little) for the check's connections to finish, then returns
// what was found during the check.
func (t *Tap) End(wait time.Duration) (violations, transcript []string) {
	deadline := time.Now().Add(wait)
	t.mu.Lock()
	for t.active > 0 && time.Now().Before(deadline) {
		t.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		t.mu.Lock()
	}
	violations, transcript = t.violations, t.transcript
	t.violations, t.transcript = nil, nil
	t.mu.Unlock()
	return
}

// Sent returns the calls forwarded so far during the current check.
func (t *Tap) Sent() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.sent...)
}

func (t *Tap) SeenErrors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n []string
	for k := range t.seenErrors {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (t *Tap) Replied() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]int{}
	for k, v := range t.replied {
		m[k] = v
	}
	return m
}
