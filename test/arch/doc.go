// Package arch checks jfguard's layering from its source: the domain and the event
// types know nothing of NATS, the web adapter records no event itself (it calls a
// use case, which builds the event once and appends it), and a request's client
// address is resolved in one place. Each rule is a test that names the file and
// line that breaks it.
package arch
