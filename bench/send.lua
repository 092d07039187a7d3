-- wrk script: POST /v1/messages with RECIPIENTS distinct Iraqi (Zain) mobile numbers per request.
local key = os.getenv("QASID_BENCH_KEY")
local recipients = tonumber(os.getenv("QASID_BENCH_RECIPIENTS") or "1")
local offset = tonumber(os.getenv("QASID_BENCH_OFFSET") or "0")
local limit = tonumber(os.getenv("QASID_BENCH_LIMIT") or "0")
local counter = 0
-- wrk builds one request on the first thread to check the script before the run and never sends
-- it, so the count starts one below zero: with -t1, exactly QASID_BENCH_LIMIT posts go out.
local sent = -1

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"

request = function()
  if limit > 0 and sent >= limit then
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  local numbers = {}
  for i = 1, recipients do
    counter = counter + 1
    numbers[i] = string.format('"+96478%08d"', (offset + counter) % 100000000)  -- Zain: clear of the simulator's test numbers
  end
  local body = '{"to":[' .. table.concat(numbers, ",") .. '],"text":"Your code is 123456","sender":"Bench"}'
  return wrk.format(nil, "/v1/messages", nil, body)
end
