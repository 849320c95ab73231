package cli

import (
	"fmt"

	"github.com/alecthomas/kong"
	mangokong "github.com/alecthomas/mango-kong"
	"github.com/muesli/mango"
	"github.com/muesli/roff"
)

// ManCmd prints the man page.
type ManCmd struct{}

// manDescription opens the page.
const manDescription = `jfguard sits in front of a Jellyfin server as a reverse proxy and adds what Jellyfin lacks: two-factor sign-in (TOTP, passkeys, email codes, recovery codes), trusted browsers, device pairing for apps and TVs, app passwords, network bypass, brute-force protection and alerts. Every decision is an event in an append-only, signed audit log kept in NATS JetStream. jfguard serve runs the service; the other commands administer it, through the control API of a running jfguard (--server) or offline on a stopped one's data directory. Every command prints its help with --help (or -h) and then exits without doing anything else.`

// manSections follow the commands and options, which come from the command
// definitions themselves (through mango-kong), so the page lists every command and
// flag of the binary that printed it.
var manSections = []struct{ name, text string }{
	{"Files", `The settings file is --config (-c), else $JFGUARD_CONFIG, else jfguard.yaml in the current directory; a missing default file is skipped, a missing file that was named is an error. Settings are read from the built-in defaults, then the file, then JFGUARD_* environment variables (the key in upper case with dots as underscores, e.g. JFGUARD_DATA_DIR), then --set KEY=VALUE and the flags --listen, --upstream, --data-dir and --public-url. The data directory (data_dir, default /var/lib/jfguard) holds the event store, the keys and admin.token.`},
	{"Environment", `JFGUARD_CONFIG names the settings file. JFGUARD_ADMIN_TOKEN is the admin token the admin commands send with --server (otherwise data_dir/admin.token is read). Every setting has a JFGUARD_* twin.`},
	{"Exit Status", `0 on success and after printing help; 1 when a command fails; 2 when the command line is wrong; 3 when audit verify finds the log altered (0 when it finds nothing wrong, also when it could not check event MACs without the master key: it says so, and --json gives macs_checked).`},
	{"See Also", `The operations guide, docs/operations.md, in the jfguard source.`},
}

// Run writes the man page to stdout.
func (ManCmd) Run(kctx *kong.Context, g *Globals) error {
	// The page's header and NAME line want a short title; the commands and their
	// options are what mango-kong generates from the model.
	page := mango.NewManPage(1, kctx.Model.Name, "security gateway for Jellyfin").WithLongDescription(manDescription)
	page.Root = mangokong.NewManPage(1, kctx.Model).Root
	for _, s := range manSections {
		page = page.WithSection(s.name, s.text)
	}
	_, err := fmt.Fprint(g.stdout, page.Build(roff.NewDocument()))
	return err
}
