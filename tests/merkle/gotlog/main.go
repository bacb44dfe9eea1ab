// gotlog is the Go side of the Merkle tree differential test: Go's
// golang.org/x/mod/sumdb/tlog, as Debian ships it, proves and checks what
// lib/merkle.c does (tests/merkle/merkle-proofs.c is the C side).
//
//	gotlog prove LEAVES QUERIES
//	gotlog check < ANSWERS
//
// LEAVES holds one leaf per line (the line's bytes, without the newline).
// A query is "incl SIZE INDEX" (the inclusion proof of leaf INDEX in the
// tree of SIZE leaves) or "cons OLD NEW" (the consistency proof between
// the trees of OLD and NEW leaves). prove answers each, one line per query,
// hashes in standard base64:
//
//	incl SIZE INDEX LEAF_HASH ROOT PROOF_HASH...
//	cons OLD NEW OLD_ROOT NEW_ROOT PROOF_HASH...
//
// check reads such lines and prints "ok" when tlog.CheckRecord or
// tlog.CheckTree accepts the proof, else "reject" and the reason.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gotlog: "+format+"\n", args...)
	os.Exit(2)
}

// tree keeps Go's stored hashes in memory, indexed by tlog.StoredHashIndex.
type tree struct {
	stored []tlog.Hash
	leaves []tlog.Hash
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.stored)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = t.stored[x]
	}
	return out, nil
}

func build(path string) *tree {
	data, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	t := &tree{}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for n, line := range lines {
		hashes, err := tlog.StoredHashes(int64(n), line, t)
		if err != nil {
			die("StoredHashes(%d): %v", n, err)
		}
		t.stored = append(t.stored, hashes...)
		t.leaves = append(t.leaves, tlog.RecordHash(line))
	}
	return t
}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		die("bad number %q", s)
	}
	return n
}

func join(hashes []tlog.Hash) string {
	var b strings.Builder
	for _, h := range hashes {
		b.WriteString(" " + h.String())
	}
	return b.String()
}

func prove(leaves, queries string) {
	t := build(leaves)
	data, err := os.ReadFile(queries)
	if err != nil {
		die("%v", err)
	}
	for _, q := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(q)
		if len(f) != 3 {
			die("bad query %q", q)
		}
		a, b := num(f[1]), num(f[2])
		switch f[0] {
		case "incl":
			root, err := tlog.TreeHash(a, t)
			if err != nil {
				die("TreeHash(%d): %v", a, err)
			}
			p, err := tlog.ProveRecord(a, b, t)
			if err != nil {
				die("ProveRecord(%d, %d): %v", a, b, err)
			}
			fmt.Printf("incl %d %d %s %s%s\n", a, b, t.leaves[b], root, join(p))
		case "cons":
			oldRoot, err := tlog.TreeHash(a, t)
			if err != nil {
				die("TreeHash(%d): %v", a, err)
			}
			newRoot, err := tlog.TreeHash(b, t)
			if err != nil {
				die("TreeHash(%d): %v", b, err)
			}
			p, err := tlog.ProveTree(b, a, t)
			if err != nil {
				die("ProveTree(%d, %d): %v", b, a, err)
			}
			fmt.Printf("cons %d %d %s %s%s\n", a, b, oldRoot, newRoot, join(p))
		default:
			die("bad query %q", q)
		}
	}
}

func hashes(fields []string) []tlog.Hash {
	out := make([]tlog.Hash, 0, len(fields))
	for _, s := range fields {
		h, err := tlog.ParseHash(s)
		if err != nil {
			die("bad hash %q: %v", s, err)
		}
		out = append(out, h)
	}
	return out
}

func check() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<20)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) < 5 {
			die("bad answer %q", in.Text())
		}
		a, b := num(f[1]), num(f[2])
		h := hashes(f[3:])
		var err error
		switch f[0] {
		case "incl":
			// CheckRecord(proof, tree size, root, index, leaf hash)
			err = tlog.CheckRecord(tlog.RecordProof(h[2:]), a, h[1], b, h[0])
		case "cons":
			// CheckTree(proof, new size, new root, old size, old root)
			err = tlog.CheckTree(tlog.TreeProof(h[2:]), b, h[1], a, h[0])
		default:
			die("bad answer %q", in.Text())
		}
		if err != nil {
			fmt.Printf("reject %v\n", err)
		} else {
			fmt.Println("ok")
		}
	}
	if err := in.Err(); err != nil {
		die("%v", err)
	}
}

func main() {
	switch {
	case len(os.Args) == 4 && os.Args[1] == "prove":
		prove(os.Args[2], os.Args[3])
	case len(os.Args) == 2 && os.Args[1] == "check":
		check()
	default:
		fmt.Fprintln(os.Stderr, "usage: gotlog prove LEAVES QUERIES | gotlog check < ANSWERS")
		os.Exit(2)
	}
}
