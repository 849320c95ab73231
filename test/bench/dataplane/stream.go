package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// streamResult is one large body read through a path.
type streamResult struct {
	bytes   int64
	elapsed time.Duration
	err     error
	// cpu is the CPU time the client, the proxy and the upstream used meanwhile.
	cpu time.Duration
	// rss is the proxy's largest resident set size sampled while the body moved,
	// in bytes (0 for a path with no process of its own).
	rss int64
}

// cpuPerGiB is the stream's CPU time per GiB moved: what moving media costs the
// machine, steadier than MB/s on a machine busy with other work.
func (s streamResult) cpuPerGiB() time.Duration {
	return time.Duration(float64(s.cpu) * float64(1<<30) / float64(max(s.bytes, 1)))
}

// mbps is the stream's rate in MB/s (10^6 bytes).
func (s streamResult) mbps() float64 { return float64(s.bytes) / 1e6 / s.elapsed.Seconds() }

// newClient is a keep-alive client that asks for no compression, so every path
// moves the same bytes.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 4}}
}

// stream reads the generated body through base and discards it as it arrives; the
// time runs from the request to the last byte. Anything but 200 and the whole body
// is an error.
func stream(ctx context.Context, c *http.Client, base, auth string, size int64) streamResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+streamPath, nil)
	if err != nil {
		return streamResult{err: err}
	}
	req.Header.Set("Authorization", auth)
	t0 := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return streamResult{err: err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return streamResult{err: fmt.Errorf("status %d", res.StatusCode)}
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := res.Body.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return streamResult{bytes: n, elapsed: time.Since(t0), err: err}
		}
	}
	r := streamResult{bytes: n, elapsed: time.Since(t0)}
	if n != size {
		r.err = fmt.Errorf("%d bytes of %d", n, size)
	}
	return r
}

// sampleRSS samples the resident set size of pids() every 20 ms until stop is
// closed, and sends the largest it saw.
func sampleRSS(pids func() []int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if n, err := currentRSS(pids()); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// probe checks that a path answers the load's request with 200 and the whole 1 KB
// body before wrk measures it: wrk counts only answers of 400 or more as errors.
func probe(ctx context.Context, c *http.Client, base, auth string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+itemsPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	switch {
	case err != nil:
		return err
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d: %.200s", res.StatusCode, body)
	case len(body) != itemsSize:
		return fmt.Errorf("a body of %d bytes, not %d", len(body), itemsSize)
	}
	return nil
}
