-- wrk script: eligibility questions (资格查询), each connection walking
-- BENCH_QUESTIONS (a file of query strings, one per line, from
-- tests/bench/run.sh) from its own starting point, so that no question
-- comes again before thousands of others: every answer is computed (none
-- reused, host/http_reuse.h). BENCH_TOKEN is the bearer token.
local questions = {}
for line in io.lines(os.getenv("BENCH_QUESTIONS")) do
  questions[#questions + 1] = line
end
local auth = "Bearer " .. os.getenv("BENCH_TOKEN")
local next_one = 0

function init()
  next_one = math.random(#questions)
end

function request()
  next_one = next_one % #questions + 1
  return wrk.format("GET", "/api/eligibility?" .. questions[next_one],
                    { Authorization = auth })
end
