-- wrk script for the control scenario: POSTs AllocateQuota bodies (bench/allocate_bodies.py
-- writes them; WASP_ALLOCATE_BODIES names the file), each with a new operation id, rotating
-- through the API keys, and counts answers that are not a grant.
local templates = dofile(os.getenv("WASP_ALLOCATE_BODIES"))
local run = string.format("%08x", (os.time() * 7919 + math.floor(os.clock() * 1e6)) % 0x7fffffff)
local sent = 0
refused = 0 -- global: done() reads it from each thread
local threads = {}
local headers = { ["content-type"] = "application/x-protobuf" }

setup = function(thread)
  table.insert(threads, thread)
end

request = function()
  sent = sent + 1
  local template = templates[sent % #templates + 1]
  local id = run .. string.format("%08x", sent)
  return wrk.format("POST", nil, headers, template.pre .. id .. template.post)
end

-- A denial names its reason in the answer's allocate_errors.
response = function(status, _, body)
  if status ~= 200 or string.find(body, "Quota exceeded", 1, true) or string.find(body, "API key not valid", 1, true) then
    refused = refused + 1
  end
end

done = function()
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("refused") or 0)
  end
  io.write(string.format("refused %d\n", total))
end
