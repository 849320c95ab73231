// Command jfguard is a security gateway for Jellyfin. See README.md.
package main

import (
	"context"
	"os"

	"github.com/jfguard/jfguard/cmd/jfguard/cli"
)

func main() {
	os.Exit(cli.Run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
