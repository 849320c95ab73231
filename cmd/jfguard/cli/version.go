package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/nats-io/nats-server/v2/server"
)

// Commit is the source revision, set at build time (-ldflags "-X .../cli.Commit=…")
// where the build cannot read it from version control (a container build without
// .git). Empty means: take it from the build information Go records.
var Commit = ""

// BuildInfo is what `jfguard version` reports: enough to tell which source, which
// toolchain and which embedded NATS server a binary was built from.
type BuildInfo struct {
	Version    string
	Commit     string
	Modified   bool
	CommitTime string
	GoVersion  string
	NATSServer string
}

// ReadBuildInfo combines the version set at build time with what the Go toolchain
// recorded in the binary (revision, Go version) and the embedded NATS server's own
// version constant (test binaries record no module versions).
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: Version, Commit: Commit, GoVersion: runtime.Version(), NATSServer: "v" + server.VERSION}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.CommitTime = s.Value
		}
	}
	return b
}

// VersionCmd prints the version and the build information.
type VersionCmd struct{}

// Run prints "jfguard <version>" on the first line (what scripts read), then one
// "name: value" line for each fact the build recorded.
func (VersionCmd) Run(g *Globals) error {
	b := ReadBuildInfo()
	fmt.Fprintf(g.stdout, "jfguard %s\n", b.Version)
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	}
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(g.stdout, "commit: %s\n", commit)
	if b.CommitTime != "" {
		fmt.Fprintf(g.stdout, "commit time: %s\n", b.CommitTime)
	}
	fmt.Fprintf(g.stdout, "go: %s\n", b.GoVersion)
	fmt.Fprintf(g.stdout, "nats-server: %s\n", b.NATSServer)
	return nil
}
