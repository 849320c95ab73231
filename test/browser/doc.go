// Package browser holds jfguard's browser tests: a headless Chromium, driven with
// chromedp, uses Jellyfin's web app (the stand-in's) through the real jfguard program
// and jfguard's own pages, the way a person would, and saves a screenshot of every
// page it sees.
//
// Run them with `go test ./test/browser/`. They need Chromium (or Chrome) at
// /usr/bin/chromium or at $CHROME_PATH, and fail without it. Screenshots go to
// test/artifacts/screenshots/; `-update-docs` also refreshes docs/screenshots/.
package browser
