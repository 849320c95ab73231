package cli

import (
	"fmt"
	"os"
	"testing"
)

// skipOrFail skips a test whose tool is missing on a developer's machine, and fails
// it where every tool must be there (.ci/run sets JFGUARD_TEST_REQUIRE_ALL=1 after
// installing them): CI never passes on a skipped check.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("JFGUARD_TEST_REQUIRE_ALL") != "" {
		t.Fatalf("%s (JFGUARD_TEST_REQUIRE_ALL is set: this check must run)", msg)
	}
	t.Skip(msg)
}
