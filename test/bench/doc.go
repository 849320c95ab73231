// Package bench holds jfguard's benchmarks: the event store, projections and audit
// verification at a million events, and the gateway against the stand-in Jellyfin,
// measured through jfguard and directly side by side in one run.
//
// Run every benchmark once:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./test/bench/
//
// or one of them, e.g. -bench 'ProjectionRebuild'. Each benchmark reports its own
// metrics (events/s, p50/p99 latencies in µs, MiB, ratios) next to ns/op, and logs
// its goal. Speed targets live here, never in timed assertions in tests: the
// numbers depend on the machine, so compare ratios measured side by side in one run.
// On a shared, busy machine the rates swing from run to run; the process-CPU
// figures (cpu-µs/event, cpu-µs/req, cpu-s/GiB, cpu-ratio) are steadier, and
// -count 3 shows the spread.
//
// The store benchmarks (ProjectionRebuild, RawDelivery, ColdStartWithSnapshot,
// AuditVerify, ProjectionRSS) share one stream seeded once per process in a
// temporary directory (Seed publishes ~30k events/s, so a million take 30-60 s);
// ColdStartWithSnapshot appends a small tail to it, so the others read the stream's
// length instead of assuming it.
//
// Environment knobs (all optional):
//
//	JFGUARD_BENCH_EVENTS     events in the shared stream (default 1000000)
//	JFGUARD_BENCH_APPENDS    appends per Append sub-benchmark (default 3000)
//	JFGUARD_BENCH_TAIL       events appended after the snapshot in ColdStart (default 1000)
//	JFGUARD_BENCH_REQUESTS   GETs per target in GatewayLatency (default 5000)
//	JFGUARD_BENCH_CLIENTS    concurrent keep-alive clients in GatewayThroughput (default 32)
//	JFGUARD_BENCH_DURATION   length of one GatewayThroughput phase (default 3s; two phases per target)
//	JFGUARD_BENCH_STREAM     bytes of the GatewayStream body (default 1073741824, 1 GiB)
//	JFGUARD_BENCH_SIGNINS    sign-ins timed in TOTPSignIn (default 400)
//	JFGUARD_BENCH_TOTP_USERS users enrolled in TOTP for TOTPSignIn (default 32; the gateway's
//	                         clock moves one 30 s step per round so each code is fresh)
//	JFGUARD_BENCH_HASHES     attempts of each kind in AppPasswordSignIn (default 40)
//	JFGUARD_BENCH_SETTLE     wait before the settled RSS reading in ProjectionRSS (default 11s,
//	                         past NATS's 10 s block cache expiry)
//	JFGUARD_BENCH_CPUPROFILE a directory: write a CPU profile of each benchmark's timed
//	                         region there (<Benchmark name>.pprof), without the setup
//	                         that -cpuprofile would include
package bench
