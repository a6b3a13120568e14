-- wrk script: count responses by status and print "STATUS <code> <count>" lines at the end.
statuses = {}  -- global, so done() can read it from each thread

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do io.write(string.format("STATUS %d %d\n", status, n)) end
  end
end
