package cli

import (
	"github.com/nats-io/nats-server/v2/server"

	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestDescribeBuild: the version, commit, uncommitted changes, Go version and the
// embedded NATS server's version come from what Go recorded in the binary.
func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/jfguard/jfguard", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "github.com/nats-io/nats.go", Version: "v1.55.0"},
			{Path: "github.com/nats-io/nats-server/v2", Version: "v2.15.2"},
		},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "06052409e6edaf18c00d8d88de33456b7e1dabee"},
			{Key: "vcs.time", Value: "2026-12-03T14:54:07Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name    string
		version string
		main    string
		want    BuildInfo
	}{
		{"built from a checkout", defaultVersion, "(devel)", BuildInfo{Version: defaultVersion, Commit: "06052409e6edaf18c00d8d88de33456b7e1dabee", CommitTime: "2026-12-03T14:54:07Z", Modified: true, Go: "go1.26.8", NATSServer: "v2.15.2"}},
		{"go install @version", defaultVersion, "v1.2.3", BuildInfo{Version: "v1.2.3", Commit: "06052409e6edaf18c00d8d88de33456b7e1dabee", CommitTime: "2026-12-03T14:54:07Z", Modified: true, Go: "go1.26.8", NATSServer: "v2.15.2"}},
		{"version set at link time wins", "1.4.0", "v1.2.3", BuildInfo{Version: "1.4.0", Commit: "06052409e6edaf18c00d8d88de33456b7e1dabee", CommitTime: "2026-12-03T14:54:07Z", Modified: true, Go: "go1.26.8", NATSServer: "v2.15.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := *bi
			b.Main.Version = tc.main
			got := describeBuild(tc.version, &b)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// Without build information (test binaries record no modules) the NATS server
	// names its own version.
	if got := describeBuild("1.0.0", nil); got.Commit != "unknown" || got.NATSServer != "v"+server.VERSION || got.Go != runtime.Version() {
		t.Errorf("without build information: %+v", got)
	}
	replaced := &debug.BuildInfo{GoVersion: "go1.26.8", Deps: []*debug.Module{{Path: "github.com/nats-io/nats-server/v2", Version: "v2.15.2", Replace: &debug.Module{Path: "../nats-server", Version: ""}}}}
	if got := describeBuild("1.0.0", replaced); !strings.Contains(got.NATSServer, "../nats-server") {
		t.Errorf("a replaced NATS server is not named: %q", got.NATSServer)
	}
}

// TestVersionCommand: `jfguard version` prints this binary's build information as
// text and as JSON. (A test binary records no modules, so the NATS server version
// read from a real build is checked by TestDescribeBuild's table.)
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	want := readBuildInfo()
	code, out, errOut := runCLI(t, "version")
	if code != 0 {
		t.Fatalf("version: exit %d %s", code, errOut)
	}
	for _, line := range []string{"jfguard " + want.Version + "\n", "commit: " + want.Commit, "go: " + runtime.Version() + "\n", "nats-server: " + want.NATSServer + "\n", "platform: " + runtime.GOOS + "/" + runtime.GOARCH + "\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("version lacks %q:\n%s", line, out)
		}
	}

	code, out, errOut = runCLI(t, "version", "--json")
	if code != 0 {
		t.Fatalf("version --json: exit %d %s", code, errOut)
	}
	var got BuildInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, out)
	}
	if got != want {
		t.Errorf("version --json: %+v, want %+v", got, want)
	}
	var fields map[string]any
	_ = json.Unmarshal([]byte(out), &fields)
	for _, k := range []string{"version", "commit", "modified", "go", "nats_server", "platform"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("version --json lacks %q: %s", k, out)
		}
	}
}
