package cli

import (
	"runtime"
	"strings"
	"testing"
)

// TestVersionShowsTheBuild: `jfguard version` names the version on its first line,
// then the commit, the Go toolchain and the embedded NATS server's version.
func TestVersionShowsTheBuild(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || lines[0] != "jfguard "+Version {
		t.Fatalf("version: exit %d, %q", code, out)
	}
	for _, want := range []string{"commit: ", "go: " + runtime.Version(), "nats-server: v2."} {
		if !strings.Contains(out, "\n"+want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
