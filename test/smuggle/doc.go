// Package smuggle is jfguard's request-smuggling suite: raw requests sent over TCP,
// each with what must come of it — refused with 400 or 431 and nothing forwarded,
// or answered with exactly the requests forwarded that the client sent and the gate
// saw. A gateway that frames a request differently from the server behind it lets a
// request past the gate unseen; the suite holds the data plane to one reading.
//
// The suite runs against a target: an address to send to and a recording upstream
// that reads what arrives with Go's net/http parser (what the stand-in Jellyfin runs
// on) and answers 200. Targets: a bare fasthttp front without any check (which
// documents what fasthttp itself refuses), the same front calling wire.CheckRequest,
// and the real jfguard program. Run it with:
//
//	go test ./test/smuggle/ ./http/wire/
package smuggle
