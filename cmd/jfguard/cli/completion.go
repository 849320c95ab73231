package cli

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// CompletionCmd prints the script that makes a shell complete jfguard's commands,
// flags and argument values.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// completionScripts register jfguard as its own completer: the shell runs jfguard
// with the command line in COMP_LINE and offers what it prints. The answers come
// from the same command definitions the parser uses (through kongplete), so they
// always match the installed binary, and a script written once never goes stale
// after an upgrade.
var completionScripts = map[string]string{
	"bash": `# bash completion for jfguard: the shell asks jfguard itself for the words.
# Install: jfguard completion bash > /etc/bash_completion.d/jfguard
complete -C jfguard jfguard
`,
	"zsh": `# zsh completion for jfguard: the shell asks jfguard itself for the words.
# Install: jfguard completion zsh > ~/.jfguard-completion.zsh
# and add "source ~/.jfguard-completion.zsh" to ~/.zshrc.
(( $+functions[compdef] )) || { autoload -U compinit && compinit }
autoload -U +X bashcompinit && bashcompinit
complete -C jfguard jfguard
`,
	"fish": `# fish completion for jfguard: the shell asks jfguard itself for the words.
# Install: jfguard completion fish > ~/.config/fish/completions/jfguard.fish
function __complete_jfguard
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command jfguard
end
complete -f -c jfguard -a "(__complete_jfguard)"
`,
}

// Run prints the script for the shell.
func (c *CompletionCmd) Run(g *Globals) error {
	script, ok := completionScripts[c.Shell]
	if !ok {
		return fmt.Errorf("no completion for shell %q: use bash, zsh or fish", c.Shell)
	}
	_, err := fmt.Fprint(g.stdout, script)
	return err
}

// completing answers a shell's completion request (COMP_LINE in the environment,
// set by the scripts above) and reports whether it did; the command line is then
// only completed, never run.
func completing(parser *kong.Kong) bool {
	if os.Getenv("COMP_LINE") == "" {
		return false
	}
	cmd, err := kongplete.Command(parser, kongplete.WithPredictors(map[string]complete.Predictor{
		"file": complete.PredictFiles("*"),
		"dir":  complete.PredictDirs("*"),
	}))
	if err != nil {
		fmt.Fprintln(parser.Stderr, "jfguard: completion:", err)
		return true
	}
	cmp := complete.New(parser.Model.Name, cmd)
	cmp.Out = parser.Stdout
	return cmp.Complete()
}
