package domain

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

var appPasswordPattern = regexp.MustCompile(`^jfg_[0-9a-hjkmnp-tv-z]{12}_[0-9a-hjkmnp-tv-z]{26}$`)

// appPasswordExample is the example in the package documentation.
const appPasswordExample = "jfg_7k2qm9xd3fhv_t8raqw5n0c4j6ezbp1hgy9kmvs"

func TestAppPasswordFormatMath(t *testing.T) {
	if AppPasswordIDBits != 60 {
		t.Errorf("id has %d bits; want 60", AppPasswordIDBits)
	}
	if AppPasswordSecretBits < 128 {
		t.Errorf("secret has %d bits; want at least 128", AppPasswordSecretBits)
	}
	if appPasswordAlphabet != strings.ToLower(crockfordAlphabet) {
		t.Errorf("alphabet %q is not lowercase Crockford", appPasswordAlphabet)
	}
	if len(appPasswordExample) != appPasswordLen || appPasswordLen != 43 {
		t.Errorf("length %d, example %d; want 43", appPasswordLen, len(appPasswordExample))
	}
	// The fast alphabet check agrees with the alphabet on every byte.
	for b := 0; b < 256; b++ {
		want := strings.IndexByte(appPasswordAlphabet, byte(b)) >= 0
		if got := inAppPasswordAlphabet(string([]byte{byte(b)})); got != want {
			t.Errorf("inAppPasswordAlphabet(%q) = %v; want %v", byte(b), got, want)
		}
	}
}

func TestNewAppPassword(t *testing.T) {
	plain, id, hash, err := NewAppPassword(factorRand(30), factorTestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !appPasswordPattern.MatchString(plain) {
		t.Fatalf("app password %q does not have the jfg_<id>_<secret> layout", plain)
	}
	gotID, secret, ok := ParseAppPassword(plain)
	if !ok || gotID != id || plain != AppPasswordPrefix+id+"_"+secret {
		t.Fatalf("ParseAppPassword(%q) = %q, %q, %v; want id %q", plain, gotID, secret, ok, id)
	}
	if strings.Contains(hash, secret) || !strings.HasPrefix(hash, "$argon2id$") {
		t.Errorf("hash %q is not a slow hash of the secret", hash)
	}
	if !VerifyAppPassword(hash, secret) {
		t.Error("the secret does not verify against its hash")
	}
	for _, wrong := range []string{"", secret[1:], strings.ToUpper(secret), secret[:25] + flipAppChar(secret[25]), plain} {
		if VerifyAppPassword(hash, wrong) {
			t.Errorf("VerifyAppPassword accepted %q", wrong)
		}
	}
	if VerifyAppPassword("not a hash", secret) {
		t.Error("VerifyAppPassword accepted a malformed hash")
	}

	other, otherID, _, _ := NewAppPassword(factorRand(31), factorTestParams)
	if other == plain || otherID == id {
		t.Errorf("two random sources gave the same app password %q", plain)
	}
}

// flipAppChar returns an app password character different from c.
func flipAppChar(c byte) string {
	i := strings.IndexByte(appPasswordAlphabet, c)
	return string(appPasswordAlphabet[(i+1)%len(appPasswordAlphabet)])
}

func TestNewAppPasswordErrors(t *testing.T) {
	if _, _, _, err := NewAppPassword(failingReader{}, factorTestParams); err == nil {
		t.Error("NewAppPassword succeeded without randomness")
	}
	if _, _, _, err := NewAppPassword(factorRand(32), HashParams{}); !errors.Is(err, ErrHashParams) {
		t.Errorf("NewAppPassword with zero params: %v; want ErrHashParams", err)
	}
}

func TestParseAppPassword(t *testing.T) {
	ex := appPasswordExample
	for _, tc := range []struct {
		name  string
		input string
		ok    bool
	}{
		{"example", ex, true},
		{"all zeros", "jfg_000000000000_00000000000000000000000000", true},
		{"uppercase", strings.ToUpper(ex), false},
		{"uppercase prefix", "JFG_" + ex[4:], false},
		{"dash prefix", "jfg-" + ex[4:], false},
		{"no prefix", ex[4:], false},
		{"dash separator", ex[:16] + "-" + ex[17:], false},
		{"separator moved", ex[:15] + "_" + ex[15:16] + ex[17:], false},
		{"secret one short", ex[:len(ex)-1], false},
		{"secret one long", ex + "a", false},
		{"trailing newline", ex + "\n", false},
		{"leading space", " " + ex[:len(ex)-1], false},
		{"i in id", ex[:4] + "i" + ex[5:], false},
		{"l in secret", ex[:20] + "l" + ex[21:], false},
		{"o in secret", ex[:20] + "o" + ex[21:], false},
		{"u in secret", ex[:20] + "u" + ex[21:], false},
		{"non-ASCII of the same length", ex[:40] + "é" + ex[42:], false},
		{"NUL byte", ex[:20] + "\x00" + ex[21:], false},
		{"empty", "", false},
		{"prefix only", "jfg_", false},
		{"Jellyfin password", "correct horse battery staple", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, ok := ParseAppPassword(tc.input)
			if ok != tc.ok {
				t.Fatalf("ParseAppPassword(%q) ok = %v; want %v", tc.input, ok, tc.ok)
			}
			if ok && (id != tc.input[4:16] || secret != tc.input[17:]) {
				t.Errorf("ParseAppPassword(%q) = %q, %q", tc.input, id, secret)
			}
			if !ok && (id != "" || secret != "") {
				t.Errorf("a refused input returned %q, %q", id, secret)
			}
		})
	}
}

// parsed keeps the parser's result alive, so the compiler cannot drop the call.
var parsed bool

func TestParseAppPasswordDoesNotAllocate(t *testing.T) {
	inputs := []string{appPasswordExample, "correct horse battery staple", strings.ToUpper(appPasswordExample)}
	allocs := testing.AllocsPerRun(100, func() {
		for _, s := range inputs {
			_, _, parsed = ParseAppPassword(s)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseAppPassword allocates %.0f times per run", allocs)
	}
}

func TestLooksLikeAppPassword(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  bool
	}{
		{appPasswordExample, true},
		{"jfg_", true},
		{"JFG_TYPO", true},
		{"jfg_too_short", true},
		{"jfg", false},
		{"jfg-7k2q", false},
		{"hunter2", false},
		{"", false},
	} {
		if got := LooksLikeAppPassword(tc.input); got != tc.want {
			t.Errorf("LooksLikeAppPassword(%q) = %v; want %v", tc.input, got, tc.want)
		}
	}
}

func FuzzParseAppPassword(f *testing.F) {
	r := factorRand(33)
	for range 3 {
		plain, _, _, err := NewAppPassword(r, factorTestParams)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain)
	}
	for _, seed := range []string{appPasswordExample, "", "jfg_", "JFG_7K2QM9XD3FHV_T8RAQW5N0C4J6EZBP1HGY9KMVS", "jfg_7k2qm9xd3fhv-t8raqw5n0c4j6ezbp1hgy9kmvs", "jfg_7k2qm9xd3fh__t8raqw5n0c4j6ezbp1hgy9kmvs"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Whatever the random bytes, a new app password parses back.
		source := io.MultiReader(strings.NewReader(s), bytes.NewReader(make([]byte, 64)))
		plain, newID, _, err := NewAppPassword(source, factorTestParams)
		if err != nil {
			t.Fatal(err)
		}
		if id, _, ok := ParseAppPassword(plain); !ok || id != newID {
			t.Fatalf("ParseAppPassword(%q) = %q, %v; want %q", plain, id, ok, newID)
		}

		id, secret, ok := ParseAppPassword(s)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("ParseAppPassword(%q) refused but returned %q, %q", s, id, secret)
			}
			return
		}
		if AppPasswordPrefix+id+"_"+secret != s || !appPasswordPattern.MatchString(s) || !LooksLikeAppPassword(s) {
			t.Fatalf("ParseAppPassword(%q) accepted %q, %q", s, id, secret)
		}
	})
}

func BenchmarkParseAppPassword(b *testing.B) {
	for b.Loop() {
		if _, _, ok := ParseAppPassword(appPasswordExample); !ok {
			b.Fatal("example refused")
		}
	}
}
