package broker

import (
	"net"
	"strings"
	"testing"
)

// TestTakenListenPortIsReportedAtOnce: when the nats.listen port is taken, Start
// returns the server's own reason naming the setting, instead of waiting out its
// readiness timeout and saying only that the server never became ready.
func TestTakenListenPortIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := Start(Options{StoreDir: t.TempDir(), Listen: l.Addr().String()})
	if err == nil {
		c.Close()
		t.Fatal("the embedded server started on a taken port")
	}
	for _, want := range []string{"address already in use", "nats.listen is " + l.Addr().String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
