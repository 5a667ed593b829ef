-- wrk script: POSTs the JSON body given after `--` on every request, counts the answers of
-- each thread (run with -t N -c N, so one connection per thread) and prints one line:
-- RESULT {"requests":..,"seconds":..,"p50_us":..,"p99_us":..,"non_2xx":..,"timeouts":..,
--         "errors":..,"per_connection":[..]}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
  answered, failed = 0, 0
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local counts, failed_total = {}, 0
  for _, thread in ipairs(threads) do
    table.insert(counts, tostring(thread:get("answered")))
    failed_total = failed_total + thread:get("failed")
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.6f,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"timeouts":%d,' ..
    '"errors":%d,"per_connection":[%s]}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    failed_total, errors.timeout, errors.connect + errors.read + errors.write,
    table.concat(counts, ",")))
end
