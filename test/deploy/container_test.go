package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
	"github.com/knadh/koanf/parsers/yaml"
)

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	keyword string // upper case
	args    string
}

func parseContainerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		keyword, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("the Containerfile ends inside a continued line: %q", cur.String())
	}
	return out
}

// execForm decodes an instruction's JSON (exec form) arguments.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		t.Fatalf("%s %s: not the exec form [\"…\"]: %v", in.keyword, in.args, err)
	}
	return args
}

// TestContainerfile: a multi-stage build of a static binary, and a final image
// that runs jfguard as a non-root user, keeps its data in a volume, exposes the
// port of its settings and checks its health with the binary itself.
func TestContainerfile(t *testing.T) {
	t.Parallel()
	all := parseContainerfile(t, readRepoFile(t, "deploy/container/Containerfile"))
	var stages [][]instruction
	for _, in := range all {
		if in.keyword == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before the first FROM", in.keyword)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages; want a build stage and a final stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.Contains(build[0].args, "golang:") {
		t.Errorf("the build stage starts FROM %q; want a golang image", build[0].args)
	}
	static := false
	for _, in := range build {
		if in.keyword == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/jfguard") {
			static = true
		}
	}
	if !static {
		t.Error("no RUN CGO_ENABLED=0 go build … ./cmd/jfguard in the build stage: the binary must be static for the final image")
	}
	if base := final[0].args; !strings.Contains(base, "distroless/static") && base != "scratch" {
		t.Errorf("the final stage starts FROM %q; want distroless/static or scratch", base)
	}

	byKeyword := map[string][]instruction{}
	for _, in := range final {
		byKeyword[in.keyword] = append(byKeyword[in.keyword], in)
	}
	users := byKeyword["USER"]
	if len(users) == 0 {
		t.Fatal("the final stage names no USER: jfguard would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("the final stage runs as USER %q; want a non-root user", users[len(users)-1].args)
	}
	var volumes []string
	for _, in := range byKeyword["VOLUME"] {
		volumes = append(volumes, strings.Fields(in.args)...)
	}
	if !slices.Contains(volumes, "/var/lib/jfguard") {
		t.Errorf("VOLUME %v; want /var/lib/jfguard (the data directory)", volumes)
	}
	checks := byKeyword["HEALTHCHECK"]
	if len(checks) != 1 {
		t.Fatalf("%d HEALTHCHECK instructions; want one", len(checks))
	}
	_, cmd, ok := strings.Cut(checks[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s has no CMD", checks[0].args)
	}
	if args := execForm(t, instruction{keyword: "HEALTHCHECK CMD", args: cmd}); len(args) != 2 || filepath.Base(args[0]) != "jfguard" || args[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK CMD %v; want [/usr/bin/jfguard healthcheck] (the image has no curl)", args)
	}
	entry := byKeyword["ENTRYPOINT"]
	if len(entry) != 1 || execForm(t, entry[0])[0] != "/usr/bin/jfguard" {
		t.Errorf("ENTRYPOINT %v; want [\"/usr/bin/jfguard\"]", entry)
	}

	// The settings the image carries load, and the port it exposes is theirs.
	var config, configPath string
	for _, in := range byKeyword["COPY"] {
		if f := strings.Fields(in.args); len(f) == 2 && strings.HasSuffix(f[1], ".yaml") {
			config, configPath = f[0], f[1]
		}
	}
	var env []string
	for _, in := range byKeyword["ENV"] {
		env = append(env, in.args)
	}
	if !slices.Contains(env, "JFGUARD_CONFIG="+configPath) {
		t.Errorf("ENV %v; want JFGUARD_CONFIG=%s so the health check finds the settings", env, configPath)
	}
	s, err := cli.LoadSettings(repoFile(t, config), true, nil, nil)
	if err != nil {
		t.Fatalf("the image's settings %s: %v", config, err)
	}
	_, port, _ := strings.Cut(s.Listen, ":")
	var exposed []string
	for _, in := range byKeyword["EXPOSE"] {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
		t.Errorf("EXPOSE %v; want the port jfguard listens on (%s)", exposed, s.Listen)
	}
	if s.DataDir != "/var/lib/jfguard" {
		t.Errorf("the image's data_dir is %q; want the volume /var/lib/jfguard", s.DataDir)
	}
}

// TestComposeExample: compose.yaml parses, publishes jfguard's port and none of
// Jellyfin's, and its settings for jfguard resolve.
func TestComposeExample(t *testing.T) {
	t.Parallel()
	doc, err := yaml.Parser().Unmarshal([]byte(readRepoFile(t, "deploy/container/compose.yaml")))
	if err != nil {
		t.Fatalf("compose.yaml does not parse: %v", err)
	}
	services, _ := doc["services"].(map[string]any)
	jellyfin, _ := services["jellyfin"].(map[string]any)
	jfguard, _ := services["jfguard"].(map[string]any)
	if jellyfin == nil || jfguard == nil {
		t.Fatalf("compose.yaml services %v; want jellyfin and jfguard", services)
	}
	for _, key := range []string{"ports", "expose", "network_mode"} {
		if v, ok := jellyfin[key]; ok {
			t.Errorf("jellyfin has %s: %v; only jfguard may reach it", key, v)
		}
	}
	ports, _ := jfguard["ports"].([]any)
	if len(ports) != 1 || !strings.HasSuffix(ports[0].(string), ":8097") {
		t.Errorf("jfguard publishes %v; want its port 8097", ports)
	}
	build, _ := jfguard["build"].(map[string]any)
	if build["dockerfile"] != "deploy/container/Containerfile" {
		t.Errorf("jfguard is built from %v; want deploy/container/Containerfile", build["dockerfile"])
	}
	if _, err := os.Stat(repoFile(t, filepath.Join("deploy/container", build["context"].(string), build["dockerfile"].(string)))); err != nil {
		t.Errorf("the build context and dockerfile do not lead to the Containerfile: %v", err)
	}

	// jfguard's environment on top of the image's settings file resolves; the
	// secret's path is mapped to a file of the test.
	env := map[string]string{}
	for k, v := range jfguard["environment"].(map[string]any) {
		env[k] = v.(string)
	}
	secretPath := env["JFGUARD_JELLYFIN_API_KEY_FILE"]
	if secretPath != "/run/secrets/jellyfin_api_key" {
		t.Errorf("JFGUARD_JELLYFIN_API_KEY_FILE = %q; want the compose secret /run/secrets/jellyfin_api_key", secretPath)
	}
	key := filepath.Join(t.TempDir(), "jellyfin_api_key")
	writeFile(t, key, "0123456789abcdef0123456789abcdef\n")
	env["JFGUARD_JELLYFIN_API_KEY_FILE"] = key
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	s, err := cli.LoadSettings(repoFile(t, "deploy/container/jfguard.yaml"), true, environ, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve()
	if err != nil {
		t.Fatalf("compose.yaml's settings for jfguard do not resolve: %v", err)
	}
	if r.Upstream.String() != "http://jellyfin:8096" || !r.Security.TrustForwardedFor || len(r.Security.TrustedProxies) != 1 {
		t.Errorf("compose settings resolved to upstream %s, trust_forwarded_for %v, trusted_proxies %v", r.Upstream, r.Security.TrustForwardedFor, r.Security.TrustedProxies)
	}
}
