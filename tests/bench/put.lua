-- wrk script: a durable draft save (保存), the same PUT again and again,
-- as a logged-in school with its CSRF token. BENCH_COOKIE, BENCH_CSRF and
-- BENCH_BODY come from tests/bench/run.sh.
wrk.method = "PUT"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
wrk.headers["X-CSRF-Token"] = os.getenv("BENCH_CSRF")
