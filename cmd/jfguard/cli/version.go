package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/nats-io/nats-server/v2/server"
)

// Commit is the source revision, set at link time (-ldflags "-X .../cli.Commit=…")
// where the build cannot read it from version control (GOFLAGS=-buildvcs=false, a
// container build without .git). Empty: take it from what Go recorded.
var Commit = ""

// VersionCmd prints what this binary is.
type VersionCmd struct {
	JSON bool `help:"Print JSON."`
}

// natsServerModule is the embedded NATS server, whose version decides which
// JetStream features the store may use.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// BuildInfo says what a binary was built from, for bug reports and upgrades.
type BuildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time,omitempty"`
	// Modified is true when the binary was built from a tree with uncommitted changes.
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
	NATSServer string `json:"nats_server"`
	Platform   string `json:"platform"`
}

// readBuildInfo describes this binary: the version set at link time (or the module
// version when installed with `go install …@version`), the commit and the versions
// of Go and the NATS server it was built with.
func readBuildInfo() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return describeBuild(Version, bi)
}

// describeBuild reads what Go recorded in the binary; bi is nil when the binary
// carries no build information.
func describeBuild(version string, bi *debug.BuildInfo) BuildInfo {
	info := BuildInfo{Version: version, Commit: "unknown", NATSServer: "v" + server.VERSION, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if Commit != "" {
		info.Commit = Commit
	}
	if bi == nil {
		return info
	}
	info.Go = bi.GoVersion
	if v := bi.Main.Version; version == defaultVersion && v != "" && v != "(devel)" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == natsServerModule {
			info.NATSServer = d.Version
			if d.Replace != nil {
				info.NATSServer = d.Replace.Version + " (replaced by " + d.Replace.Path + ")"
			}
		}
	}
	return info
}

// Run prints the build information.
func (c *VersionCmd) Run(g *Globals) error {
	info := readBuildInfo()
	if c.JSON {
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, string(b))
		return nil
	}
	commit := info.Commit
	if info.Modified {
		commit += " (modified)"
	}
	if info.CommitTime != "" {
		commit += " from " + info.CommitTime
	}
	fmt.Fprintf(g.stdout, "jfguard %s\ncommit: %s\ngo: %s\nnats-server: %s\nplatform: %s\n",
		info.Version, commit, info.Go, info.NATSServer, info.Platform)
	return nil
}
