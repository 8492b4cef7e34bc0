-- wrk script of the JWT scenario's uncached variant: every request carries the next token of
-- a file (one per line, cycling), so a verified-token cache smaller than the file never hits.
-- START is where the previous run stopped (scripts/bench.sh counts), so a run does not begin
-- with tokens the last one just verified. The requests are formatted once in init, so the
-- client does no more work per request than with a fixed request.
--   wrk ... -s bench/rotate_tokens.lua URL -- TOKENS_FILE [START]
local requests = {}
local next_index = 0

function init(args)
  local file = args[1] or error("rotate_tokens.lua: pass the tokens file after --")
  for token in io.lines(file) do
    if token ~= "" then
      local headers = {}
      for name, value in pairs(wrk.headers) do
        headers[name] = value
      end
      headers["Authorization"] = "Bearer " .. token
      requests[#requests + 1] = wrk.format(nil, nil, headers)
    end
  end
  if #requests == 0 then
    error("rotate_tokens.lua: no tokens in " .. file)
  end
  next_index = (tonumber(args[2]) or 0) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
