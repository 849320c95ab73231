package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAuditQueryPrintsNumbersAsNumbers: a payload's integers print as integers
// (a float64 would print 59876490 as 5.987649e+07), fractions as written, and
// secrets stay out.
func TestAuditQueryPrintsNumbersAsNumbers(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newEventPrinter(&out, false)
	p.printJSON(eventJSON{Seq: 7, Type: "totp_verified", Time: time.Unix(1_800_000_000, 0), Aggregate: "user", AggregateID: "alice",
		Data: json.RawMessage(`{"step":59876490,"big":9007199254740993,"ratio":0.25,"neg":-3,"secret":"s3cr3t","nested":{"n":12345678}}`)})
	p.flush()
	got := out.String()
	for _, want := range []string{"step=59876490", "big=9007199254740993", "ratio=0.25", "neg=-3", "nested=map[n:12345678]"} {
		if !strings.Contains(got, want) {
			t.Errorf("the table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "e+") || strings.Contains(got, "s3cr3t") {
		t.Errorf("exponent or secret in the table:\n%s", got)
	}
}
