-- W5: one live token, revoked in the middle of the run by scripts/bench, which writes the
-- wall-clock time (µs) at which the revocation's 204 arrived to the file BENCH_REVOKED_AT.
-- Counts the 200s answered to requests that were *sent* after that instant: the contract says
-- there must be none. Run it with as many threads as connections (-t N -c N): each thread
-- then has one connection, so every response belongs to the last request its thread sent.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME, the clock of `date +%s%6N`
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local sent_at = 0
ok_sent = {}    -- send times of the requests that got 200, read by done()
unauthorized = 0

function request()
  sent_at = now_us()
  return wrk.request()
end

function response(status, headers, body)
  if status == 200 then
    ok_sent[#ok_sent + 1] = sent_at
  elseif status == 401 then
    unauthorized = unauthorized + 1
  end
end

function done(summary, latency, requests)
  local f = io.open(os.getenv("BENCH_REVOKED_AT"))
  local revoked_at = f and tonumber(f:read("*l"))
  if f then f:close() end
  local ok, late, unauth = 0, 0, 0
  for _, thread in ipairs(threads) do
    local sent = thread:get("ok_sent")
    ok = ok + #sent
    unauth = unauth + thread:get("unauthorized")
    for _, t in ipairs(sent) do
      if revoked_at and t > revoked_at then late = late + 1 end
    end
  end
  io.write(string.format("W5 ok=%d unauthorized=%d ok_after_revoke=%s\n", ok, unauth,
    revoked_at and tostring(late) or "unknown (no revocation time)"))
end
