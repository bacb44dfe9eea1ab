// gowitness is a transparency-log witness for the tests only: it follows
// c2sp.org/tlog-witness (add-checkpoint) and signs c2sp.org/tlog-cosignature
// cosignature/v1 with Go's golang.org/x/mod/sumdb/note and checks
// consistency with golang.org/x/mod/sumdb/tlog, as Debian ships them
// (golang-golang-x-mod-dev 0.7, which has no cosignature helper: the
// cosigner and its verifier are written here from the spec).
//
//	gowitness keygen NAME SEEDFILE      writes a key, prints its verifier key
//	gowitness serve NAME SEEDFILE STATEFILE LOG_VKEY...
//	                                    serves on 127.0.0.1, prints the URL
//	gowitness verify NOTEFILE WITNESS_VKEY...
//	                                    note.Open's verdict per witness key
//
// The witness keeps, per log origin, the size and root of the last
// checkpoint it cosigned (in STATEFILE, replaced atomically before it
// answers) and cosigns a checkpoint only when the request's old size is
// that size and the consistency proof from that root verifies.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const cosignatureType = 0x04

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gowitness: "+format+"\n", args...)
	os.Exit(2)
}

func keyHash(name string, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{cosignatureType})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func vkeyOf(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, pub),
		base64.StdEncoding.EncodeToString(append([]byte{cosignatureType}, pub...)))
}

// The signed message: "cosignature/v1\ntime T\n" and the checkpoint's text.
func message(t uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), text...)
}

// cosigner is a note.Signer whose signatures are timestamped.
type cosigner struct {
	name string
	key  ed25519.PrivateKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return keyHash(c.name, c.key.Public().(ed25519.PublicKey)) }
func (c *cosigner) Sign(text []byte) ([]byte, error) {
	t := uint64(time.Now().Unix())
	sig := make([]byte, 8, 72)
	binary.BigEndian.PutUint64(sig, t)
	return append(sig, ed25519.Sign(c.key, message(t, text))...), nil
}

// coverifier is a note.Verifier of such signatures.
type coverifier struct {
	name string
	pub  ed25519.PublicKey
}

func (v *coverifier) Name() string    { return v.name }
func (v *coverifier) KeyHash() uint32 { return keyHash(v.name, v.pub) }
func (v *coverifier) Verify(text, sig []byte) bool {
	if len(sig) != 72 {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	return t <= 1<<63-1 && ed25519.Verify(v.pub, message(t, text), sig[8:])
}

func parseCoverifier(vkey string) *coverifier {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		die("witness key %q: not NAME+ID+KEY", vkey)
	}
	blob, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(blob) != 33 || blob[0] != cosignatureType {
		die("witness key %q: not a cosignature/v1 key", vkey)
	}
	v := &coverifier{parts[0], ed25519.PublicKey(blob[1:])}
	if fmt.Sprintf("%08x", v.KeyHash()) != parts[1] {
		die("witness key %q: its key id does not match", vkey)
	}
	return v
}

func loadKey(name, path string) *cosigner {
	data, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		die("%s: not a hex Ed25519 seed", path)
	}
	return &cosigner{name, ed25519.NewKeyFromSeed(seed)}
}

type logState struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

type witness struct {
	mu        sync.Mutex // the check of old size and the update are one step
	signer    *cosigner
	logs      map[string]note.Verifier
	statePath string
	state     map[string]logState
}

func (w *witness) save() error {
	data, _ := json.Marshal(w.state)
	tmp := w.statePath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, w.statePath)
}

var errBadRequest = errors.New("malformed request")

// parseRequest splits an add-checkpoint body: "old N", proof lines, an
// empty line, the checkpoint.
func parseRequest(body []byte) (int64, []tlog.Hash, []byte, error) {
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "old ") {
		return 0, nil, nil, errBadRequest
	}
	num := strings.TrimSuffix(line[4:], "\n")
	old, err := strconv.ParseInt(num, 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != num {
		return 0, nil, nil, errBadRequest
	}
	var proof []tlog.Hash
	for {
		line, err = r.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errBadRequest
		}
		if line == "\n" {
			break
		}
		h, err := tlog.ParseHash(strings.TrimSuffix(line, "\n"))
		if err != nil || len(proof) == 63 {
			return 0, nil, nil, errBadRequest
		}
		proof = append(proof, h)
	}
	rest, _ := io.ReadAll(r)
	return old, proof, rest, nil
}

// parseCheckpoint reads origin, size and root from a checkpoint's text.
func parseCheckpoint(text string) (string, int64, tlog.Hash, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, tlog.Hash{}, errBadRequest
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, tlog.Hash{}, errBadRequest
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return "", 0, tlog.Hash{}, errBadRequest
	}
	return lines[0], size, root, nil
}

func fail(rw http.ResponseWriter, code int, why string) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(code)
	fmt.Fprintln(rw, why)
}

func (w *witness) addCheckpoint(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		fail(rw, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<16))
	if err != nil {
		fail(rw, http.StatusBadRequest, "cannot read the body")
		return
	}
	old, proof, cp, err := parseRequest(body)
	if err != nil {
		fail(rw, http.StatusBadRequest, err.Error())
		return
	}
	origin := string(cp)
	if i := strings.IndexByte(origin, '\n'); i >= 0 {
		origin = origin[:i]
	}
	v, ok := w.logs[origin]
	if !ok {
		fail(rw, http.StatusNotFound, "unknown log "+origin)
		return
	}
	n, err := note.Open(cp, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	if errors.As(err, &unverified) || errors.As(err, &invalid) {
		fail(rw, http.StatusForbidden, "not signed by the log's key: "+err.Error())
		return
	} else if err != nil {
		fail(rw, http.StatusBadRequest, err.Error())
		return
	}
	_, size, root, err := parseCheckpoint(n.Text)
	if err != nil || old > size {
		fail(rw, http.StatusBadRequest, "malformed checkpoint, or old size above its size")
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state[origin]
	if old != st.Size {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", st.Size)
		return
	}
	if old == 0 && len(proof) != 0 {
		fail(rw, http.StatusBadRequest, "a proof from size 0")
		return
	}
	if old > 0 {
		oldRoot, err := tlog.ParseHash(st.Root)
		if err != nil {
			fail(rw, http.StatusInternalServerError, "state damaged")
			return
		}
		if old == size && root != oldRoot {
			fail(rw, http.StatusConflict, "another root at the size cosigned last")
			return
		}
		if err := tlog.CheckTree(proof, size, root, old, oldRoot); err != nil {
			fail(rw, http.StatusUnprocessableEntity, "the consistency proof does not verify: "+err.Error())
			return
		}
	}
	w.state[origin] = logState{size, root.String()}
	if err := w.save(); err != nil {
		w.state[origin] = st
		fail(rw, http.StatusInternalServerError, err.Error())
		return
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		fail(rw, http.StatusInternalServerError, err.Error())
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(signed[len(n.Text)+1:])
}

func serve(args []string) {
	if len(args) < 4 {
		die("usage: gowitness serve NAME SEEDFILE STATEFILE LOG_VKEY...")
	}
	w := &witness{signer: loadKey(args[0], args[1]), logs: map[string]note.Verifier{}, statePath: args[2],
		state: map[string]logState{}}
	for _, vkey := range args[3:] {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			die("log key %q: %v", vkey, err)
		}
		w.logs[v.Name()] = v
	}
	if data, err := os.ReadFile(w.statePath); err == nil {
		if err := json.Unmarshal(data, &w.state); err != nil {
			die("%s: %v", w.statePath, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("%v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", w.addCheckpoint)
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	die("%v", http.Serve(ln, mux))
}

func main() {
	if len(os.Args) < 2 {
		die("usage: gowitness keygen|serve|verify ...")
	}
	switch os.Args[1] {
	case "keygen":
		if len(os.Args) != 4 {
			die("usage: gowitness keygen NAME SEEDFILE")
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			die("%v", err)
		}
		if err := os.WriteFile(os.Args[3], []byte(hex.EncodeToString(priv.Seed())+"\n"), 0600); err != nil {
			die("%v", err)
		}
		fmt.Println(vkeyOf(os.Args[2], pub))
	case "serve":
		serve(os.Args[2:])
	case "verify":
		if len(os.Args) < 4 {
			die("usage: gowitness verify NOTEFILE WITNESS_VKEY...")
		}
		msg, err := os.ReadFile(os.Args[2])
		if err != nil {
			die("%v", err)
		}
		// One verdict per witness: note.Open with that witness alone.
		for _, vkey := range os.Args[3:] {
			v := parseCoverifier(vkey)
			_, err := note.Open(msg, note.VerifierList(v))
			verdict := "ok"
			var unverified *note.UnverifiedNoteError
			var invalid *note.InvalidSignatureError
			switch {
			case errors.As(err, &unverified):
				verdict = "unverified"
			case errors.As(err, &invalid):
				verdict = "invalid-signature"
			case err != nil:
				verdict = "error: " + err.Error()
			}
			fmt.Printf("%s %s\n", v.name, verdict)
		}
	default:
		die("unknown command %q", os.Args[1])
	}
}
