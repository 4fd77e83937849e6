-- W6: a bearer POST of BENCH_BODY (JSON); the Authorization header comes from wrk's -H.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
