// Package deploy checks the files jfguard ships for running it as a service: the
// systemd unit, the container recipe and compose example, the example settings,
// the TLS proxy recipes and the Debian package (all under deploy/).
//
// What can run here runs for real: `systemd-analyze verify` and its offline
// security rating on the unit; nginx and Caddy started with the recipes from the
// docs, adapted only in ports and certificate paths, in front of the real jfguard
// and the stand-in Jellyfin; the .deb built, installed with dpkg, run and removed.
// Each of those skips with the Debian package it needs when that is missing
// (systemd, nginx, caddy, dpkg; installing the .deb needs root). No container
// engine runs here, so the Containerfile and compose file are checked as text.
//
// The package test is slow (a static build, then dpkg): it runs with
//
//	go test -tags slow -run Slow ./test/deploy/
package deploy
