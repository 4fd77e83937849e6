-- W3 (and any set of tokens): a bearer token per request, round-robin over the file named by
-- BENCH_TOKENS (one token per line). Requests are formatted once, up front, so the load
-- generator spends its core sending, not building strings.
local requests = {}

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    requests[#requests + 1] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. line })
  end
end

local i = 0
function request()
  i = i % #requests + 1
  return requests[i]
end
