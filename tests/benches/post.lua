-- Distinct GitFlic PIPELINE_FAIL deliveries: each request names another pipeline, so every
-- one is stored (a repeat would be answered "duplicate" without a write).
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
-- `-- OFFSET` after the URL: several wrk processes at once (one per replica,
-- tests/benches/wrk_replicas.sh) name distinct pipelines.
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 1
  offset = tonumber(args[1]) or 0
end
request = function()
  counter = counter + 1
  local n = offset + tid * 10000000 + counter
  local body = '{"action":"PIPELINE_FAIL","project_id":"aa62e838-464f-5c6d-bbbc-9e2dff577e28","project":{"alias":"app","owner_alias":"acme","title":"App"},"pipeline":{"local_id":"' .. n .. '","ref":"main"}}'
  return wrk.format("POST", "/api/integrations/gitflic/webhook/cloud?secret=wh-bench-Qz81Lm2P",
    {["Content-Type"] = "application/json", ["Gitflic-Webhook-Secret"] = "wh-bench-Qz81Lm2P"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
  for _, p in pairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%g %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
