-- wrk script for bench/ingest.py: every request carries its own webhook-id and signature, read
-- from the file named by the first script argument: a timestamp line, a body count, the bodies
-- (one JSON per line), then one "webhook-id signature body-number" line per request.
local timestamp, bodies, ids, sigs, which = nil, {}, {}, {}, {}
local i = 0
wrapped, statuses = 0, {}  -- globals, so done() can read them from each thread

function init(args)
  local lines = io.lines(args[1])
  timestamp = lines()
  for _ = 1, tonumber(lines()) do bodies[#bodies + 1] = lines() end
  for line in lines do
    local id, sig, b = line:match("^(%S+) (%S+) (%d+)$")
    ids[#ids + 1], sigs[#sigs + 1], which[#which + 1] = id, sig, tonumber(b)
  end
end

function request()
  i = i + 1
  if i > #ids then i, wrapped = 1, wrapped + 1 end  -- a reused id is a duplicate delivery: ingest.py checks
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = ids[i], ["webhook-timestamp"] = timestamp, ["webhook-signature"] = sigs[i],
  }, bodies[which[i]])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do io.write(string.format("STATUS %d %d\n", status, n)) end
    io.write(string.format("WRAPPED %d\n", thread:get("wrapped")))
  end
end
