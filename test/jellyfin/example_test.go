package jellyfin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/jfguard/jfguard/test/jellyfin"
)

// Example starts a stand-in Jellyfin, signs a user in the way the web app
// does, and uses the token.
func Example() {
	srv := jellyfin.New(jellyfin.Options{QuickConnect: true})
	defer srv.Close()
	alice := srv.AddUser("alice", "alice-dev-password", false)
	ts := httptest.NewServer(srv)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/Users/AuthenticateByName",
		strings.NewReader(`{"Username":"alice","Pw":"alice-dev-password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `MediaBrowser Client="Jellyfin%20Web", Device="Chrome", DeviceId="example", Version="12.0.0"`)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("sign-in:", res.StatusCode)

	sessions := srv.Sessions()
	fmt.Println("sessions:", len(sessions), sessions[0].UserID == alice.ID, sessions[0].Client)

	me, _ := http.NewRequest(http.MethodGet, ts.URL+"/Users/Me", nil)
	me.Header.Set("Authorization", `MediaBrowser Token="`+sessions[0].Token+`"`)
	res, err = http.DefaultClient.Do(me)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("/Users/Me:", res.StatusCode)
	// Output:
	// sign-in: 200
	// sessions: 1 true Jellyfin Web
	// /Users/Me: 200
}

// ExampleReadCredentials shows how Jellyfin 12.0 reads the unquoted,
// unencoded header Swiftfin sends.
func ExampleReadCredentials() {
	r := httptest.NewRequest(http.MethodGet, "/Users/Me", nil)
	r.Header.Set("Authorization", "MediaBrowser DeviceId=iOS_1234, Device=JanesiPhone, Client=Swiftfin iOS, Version=1.4.0, Token=abc")
	c := jellyfin.ReadCredentials(r, false)
	fmt.Printf("%q %q %q\n", c.Client, c.DeviceID, c.Token)
	// Output: "Swiftfin iOS" "iOS_1234" "abc"
}
