-- wrk script for bench/http_bench.py: each request is the next line of a prepared file, so every
-- commit, proposal and webhook event is a different one (a replayed event or entry takes a cheaper path).
-- Arguments after `--`: the file (lines "<Stripe-Signature or empty>\t<JSON body>"), the thread count,
-- and a Bearer token (or empty). Prints "BENCH ok=<200s> other=<non-200s> wrapped=<0|1>" at the end.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads, token = args[1], tonumber(args[2]), args[3]
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local sig, body = line:match("^([^\t]*)\t(.*)$")
      local headers = {["Content-Type"] = "application/json"}
      if sig ~= "" then headers["Stripe-Signature"] = sig end
      if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
      reqs[#reqs + 1] = wrk.format("POST", nil, headers, body)
    end
    i = i + 1
  end
  idx, ok, other, wrapped = 0, 0, 0, 0
end

function request()
  idx = idx + 1
  if idx > #reqs then
    idx, wrapped = 1, 1
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local o, x, w = 0, 0, 0
  for _, t in ipairs(threads) do
    o, x, w = o + t:get("ok"), x + t:get("other"), math.max(w, t:get("wrapped"))
  end
  io.write(string.format("BENCH ok=%d other=%d wrapped=%d\n", o, x, w))
end
