package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/term"
)

// openTerminal opens a pseudo-terminal in raw mode (no newline translation, so
// a carriage return in the output is the program's own) and returns the end a
// program writes to and a function that closes it and returns what was written.
func openTerminal(t *testing.T) (*os.File, func() string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		skipOrFail(t, "no pseudo-terminal (/dev/ptmx): %v", err)
	}
	var n uint32
	var unlock int32
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatal(err)
	}
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile("/dev/pts/"+itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&out, master) // ends with EIO once tty is closed
		close(read)
	}()
	var closed bool
	done := func() string {
		if !closed {
			closed = true
			tty.Close()
			<-read
			master.Close()
		}
		return out.String()
	}
	t.Cleanup(func() { done() })
	return tty, done
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func itoa(n uint32) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// runOnTerminal runs the command line with its standard error on a terminal and
// returns the exit code, standard output and what the terminal showed.
func runOnTerminal(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	tty, shown := openTerminal(t)
	var out bytes.Buffer
	code := Run(context.Background(), args, nil, &out, tty)
	return code, out.String(), shown()
}

// TestBackupAndRestoreProgress: on a terminal, an offline backup draws a byte bar
// per stream's snapshot, an online one a bar of the bytes downloaded, and a
// restore bars for checking the archive, restoring the streams (bytes) and
// verifying the audit log (events); written to a file or a pipe, the same
// commands print plain lines without a carriage return.
func TestBackupAndRestoreProgress(t *testing.T) {
	t.Parallel()
	_, up, keyFile := healthyJellyfin(t)
	dataDir := stoppedDataDir(t, up, keyFile)
	key := filepath.Join(dataDir, "master.key")
	tmp := t.TempDir()
	bars := func(what, shown string, want ...string) {
		t.Helper()
		if !strings.Contains(shown, "\r") {
			t.Errorf("%s on a terminal drew no bar:\n%q", what, shown)
		}
		for _, w := range want {
			if !strings.Contains(shown, w) {
				t.Errorf("%s on a terminal did not show %q:\n%q", what, w, shown)
			}
		}
	}

	offline := filepath.Join(tmp, "offline.tar")
	code, out, shown := runOnTerminal(t, "backup", "--data-dir", dataDir, "--out", offline, "--exclude-master-key")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, shown)
	}
	bars("an offline backup", shown, "snapshot of JFGUARD_EVENTS", "snapshot of JFGUARD_AUDIT", "snapshot of JFGUARD_KEYS", "B/s")
	if strings.Contains(shown, "started") {
		t.Errorf("an offline backup on a terminal printed step lines beside its bars:\n%q", shown)
	}

	code, out, shown = runOnTerminal(t, "restore", "--in", offline, "--data-dir", filepath.Join(tmp, "restored"), "--master-key-file", key)
	if code != 0 || !strings.Contains(out, "audit verify: OK") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, shown)
	}
	bars("a restore", shown, "checking offline.tar", "restore of JFGUARD_EVENTS", "verifying the restored audit log")

	code, out, errOut := runCLI(t, "restore", "--in", offline, "--data-dir", filepath.Join(tmp, "plain"), "--master-key-file", key)
	if code != 0 || strings.Contains(errOut, "\r") || !strings.Contains(errOut, "restore of JFGUARD_EVENTS:") || !strings.Contains(errOut, "checking "+offline) {
		t.Fatalf("restore to a pipe: exit %d, want plain step lines:\n%s\n%q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "backup", "--data-dir", dataDir, "--out", filepath.Join(tmp, "plain.tar"), "--exclude-master-key")
	if code != 0 || strings.Contains(errOut, "\r") || !strings.Contains(errOut, "snapshot of JFGUARD_EVENTS: started") {
		t.Fatalf("backup to a pipe: exit %d, want plain step lines:\n%q", code, errOut)
	}

	m := startDoctorMain(t, up, keyFile, filepath.Join(tmp, "running"), nil)
	code, out, shown = runOnTerminal(t, "backup", "--server", m.URL(), "--token", m.AdminToken(), "--out", filepath.Join(tmp, "online.tar"), "--exclude-master-key")
	if code != 0 {
		t.Fatalf("online backup: exit %d\n%s\n%s", code, out, shown)
	}
	bars("an online backup", shown, "downloading the backup", "B/s")
}
