// Package docs holds jfguard's documents; the control API's OpenRPC document is
// embedded in the binary from here so the served description and the file users
// read are one and the same.
package docs

import _ "embed"

// OpenRPC is docs/openrpc.json.
//
//go:embed openrpc.json
var OpenRPC []byte
