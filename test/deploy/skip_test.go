package deploy

import (
	"testing"

	"github.com/jfguard/jfguard/test/testkit"
)

// skipOrFail skips a test whose tool is missing, or fails it under
// JFGUARD_TEST_REQUIRE_ALL (see testkit.SkipOrFail).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	testkit.SkipOrFail(t, format, args...)
}
