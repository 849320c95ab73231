// Package jellyfin is an in-process stand-in for the parts of Jellyfin's HTTP
// API that jfguard touches: users and passwords (and changing one), the
// lockout after wrong passwords and the user policy that sets it, sign-in by
// name, Quick
// Connect, session logout, API keys, the device list, public system
// information, one media item with a Range-capable stream, the /socket
// WebSocket and a small /web/ sign-in page that behaves like Jellyfin's web
// app.
//
// It exists so that end-to-end tests, benchmarks and `jfguard dev` can run
// jfguard against something that answers the way Jellyfin 12.0 answers,
// without a real server. Its behaviour follows Jellyfin's source and its
// OpenAPI document (a test validates the responses against that document), so
// a difference between the stand-in and Jellyfin is a bug here.
//
// A Server is an http.Handler and is safe for concurrent use.
package jellyfin
