-- wrk script: POST /v1/messages with RECIPIENTS distinct Iraqi mobile numbers per request.
local key = os.getenv("QASID_BENCH_KEY")
local recipients = tonumber(os.getenv("QASID_BENCH_RECIPIENTS") or "1")
local offset = tonumber(os.getenv("QASID_BENCH_OFFSET") or "0")
local counter = 0

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"

request = function()
  local numbers = {}
  for i = 1, recipients do
    counter = counter + 1
    numbers[i] = string.format('"+96477%08d"', (offset + counter) % 100000000)
  end
  local body = '{"to":[' .. table.concat(numbers, ",") .. '],"text":"Your code is 123456","sender":"Bench"}'
  return wrk.format(nil, "/v1/messages", nil, body)
end
