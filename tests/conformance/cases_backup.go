package main

// io.vaultd.admin.Backup: the file travels with the call (SCM_RIGHTS),
// which the generated bindings cannot send; a raw connection through the
// tap can, and the tap passes the descriptor on (docs/protocol.md, "File
// descriptors").

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/varlink/go/varlink"

	adm "vaultdconformance/gen/iovaultdadmin"
)

// SendFd sends one call whose first byte carries fd.
func (r *Raw) SendFd(msg string, fd int) error {
	_, _, err := r.c.(*net.UnixConn).WriteMsgUnix(append([]byte(msg), 0), syscall.UnixRights(fd), nil)
	return err
}

// backupFile makes a new, empty file for a backup in a directory of the
// check's own.
func (t *T) backupFile() (*os.File, string) {
	dir, err := os.MkdirTemp("", "vaultd-conformance-backup-")
	if err != nil {
		t.Fatalf("temporary directory: %v", err)
	}
	t.closers = append(t.closers, func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "backup.mdb")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0600)
	if err != nil {
		t.Fatalf("backup file: %v", err)
	}
	t.closers = append(t.closers, func() { f.Close() })
	return f, path
}

const backupCall = `{"method":"io.vaultd.admin.Backup","parameters":{}}`

func backupDenied(t *T) []deniedCall {
	return []deniedCall{
		{"io.vaultd.admin.Backup", func(c *varlink.Connection) error {
			_, _, _, _, err := adm.Backup().Call(t.Ctx(), c)
			return err
		}},
	}
}

func init() {
	register("backup_without_fd", `Backup through the generated bindings, which pass no descriptor, is admin.InvalidParameter "fd"`, func(t *T) {
		c := t.Dial()
		_, _, _, _, err := adm.Backup().Call(t.Ctx(), c)
		if t.wantErr("Backup without a descriptor", err, "io.vaultd.admin.InvalidParameter") {
			if e, ok := err.(*adm.InvalidParameter); !ok || e.Parameter != "fd" || e.Reason == "" {
				t.Errorf("Backup without a descriptor: %s", describe(err))
			}
		}
	})

	register("backup_with_fd", "Backup with a new file passed with the call writes the copy into it; the reply is as declared", func(t *T) {
		f, path := t.backupFile()
		r := t.Raw()
		if err := r.SendFd(backupCall, int(f.Fd())); err != nil {
			t.Fatalf("send: %v", err)
		}
		raw, m := t.recv(r, "Backup")
		if m["error"] != nil {
			t.Fatalf("Backup: %s", raw)
		}
		var out struct {
			Size     int64  `json:"size"`
			HeadSeq  int64  `json:"head_seq"`
			HeadHash string `json:"head_hash"`
			Time     string `json:"time"`
		}
		b, _ := json.Marshal(params(m))
		json.Unmarshal(b, &out)
		st, err := os.Stat(path)
		if err != nil || st.Size() != out.Size || out.Size == 0 {
			t.Errorf("Backup: reply size %d, the file has %v (%v)", out.Size, st, err)
		}
		if out.HeadSeq < 1 || !hex64.MatchString(out.HeadHash) || out.Time == "" {
			t.Errorf("Backup: %s", raw)
		}
		// A second call on a file that now holds a copy is refused.
		if err := r.SendFd(backupCall, int(f.Fd())); err != nil {
			t.Fatalf("send: %v", err)
		}
		_, m = t.recv(r, "Backup into a file that is not empty")
		if m["error"] != "io.vaultd.admin.InvalidParameter" || params(m)["parameter"] != "fd" {
			t.Errorf("Backup into a file that is not empty: %v", m)
		}
	})

	register("denied_admin_backup", "Backup without the admin role is admin.AccessDenied, with a descriptor or without", func(t *T) {
		t.wantDenied(backupDenied(t))
		f, _ := t.backupFile()
		r := t.Raw()
		if err := r.SendFd(backupCall, int(f.Fd())); err != nil {
			t.Fatalf("send: %v", err)
		}
		_, m := t.recv(r, "Backup with a descriptor")
		if m["error"] != "io.vaultd.admin.AccessDenied" || params(m)["method"] != "io.vaultd.admin.Backup" {
			t.Errorf("Backup with a descriptor, without the admin role: %v", m)
		}
		if st, err := f.Stat(); err != nil || st.Size() != 0 {
			t.Errorf("a denied Backup wrote into the file: %v %v", st, err)
		}
	})
}
