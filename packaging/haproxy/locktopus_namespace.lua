-- The namespace of a request, decoded byte for byte as the Locktopus server
-- decodes it, for HAProxy to route on (see locktopus.cfg.in). HAProxy 2.6,
-- Lua 5.3.
--
-- Why not `url_param(namespace)`: it hashes the raw text, while the server
-- decodes it. `namespace=a+b`, `namespace=a%20b`, `namespace=a%20%62` and
-- `n%61mespace=a%20b` are one namespace to the server and four keys to a raw
-- hash; spread over two groups, one namespace has two lock spaces and the
-- same lock can be granted twice. The `url_dec` converter would not help:
-- url_param finds the parameter by its raw name, so for
-- `n%61mespace=x&namespace=y` it routes by `y` and the server locks in `x`.
--
-- What the server does (server/core/routes.cc, Boost.URL):
--   1. parse_origin_form: the target is "/" path ["?" query], where the path
--      holds pchar and '/', the query pchar, '/' and '?' (RFC 3986), and
--      every '%' starts '%' HEXDIG HEXDIG. Anything else (a space, '"', '#',
--      '[', '{', '|', '\', '^', '`', '<', '>', a control or non-ASCII byte,
--      '%zz', '%4', a lone '%') makes the whole target malformed: HTTP 400
--      "Malformed request target".
--   2. params(): the query split on '&'; each parameter split at its first
--      '=' (no '=': the value is empty); name and value percent-decoded,
--      '+' decoding to a space.
--   3. The first parameter whose DECODED name is exactly `namespace`
--      (case matters) wins; later ones are ignored.
-- The path is percent-decoded too (`/st%61ts_v1` is `/stats_v1`), so the
-- proxy never routes by path: only the query decides.
--
-- Action `lua.locktopus_namespace` (http-req) sets
--   txn.locktopus_malformed  1 when step 1 fails (the server would say 400)
--   txn.locktopus_ns         the decoded namespace, when a parameter named
--                            `namespace` is present (possibly empty)
--   txn.locktopus_checked    1, last: the configuration routes nothing
--                            without it (a Lua error fails closed)
-- and nothing else. It reads `pathq`, the target from its first '/'; an
-- absolute-form target (`GET http://host/v1?...`) is routed by its query,
-- reaches the server as it is and gets the server's 400.

-- Characters of RFC 3986's pchar other than '%': unreserved, sub-delims,
-- ':' and '@'. Spelled out rather than %w or %x, which follow the locale.
local PCHAR = "A-Za-z0-9%-%._~!$&'()*+,;=:@"
local NOT_PATH = "[^" .. PCHAR .. "/%%]"
local NOT_QUERY = "[^" .. PCHAR .. "/?%%]"
local HEX2 = "^[0-9A-Fa-f][0-9A-Fa-f]$"

-- True if every '%' of s starts a two-hex-digit escape.
local function escapes_valid(s)
  local at = 1
  while true do
    local p = s:find("%", at, true)
    if p == nil then return true end
    if not s:sub(p + 1, p + 2):match(HEX2) then return false end
    at = p + 3
  end
end

-- '+' to a space, then %HH to its byte. In this order a decoded %2B stays
-- a '+', and each escape is decoded once (%2541 is "%41", not "A").
local function decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%([0-9A-Fa-f][0-9A-Fa-f])", function(hex)
    return string.char(tonumber(hex, 16))
  end))
end

-- The decoded namespace of a well-formed query, or nil if no parameter is
-- named `namespace`.
local function first_namespace(query)
  for param in (query .. "&"):gmatch("([^&]*)&") do
    local eq = param:find("=", 1, true)
    local name = eq and param:sub(1, eq - 1) or param
    if decode(name) == "namespace" then
      return eq and decode(param:sub(eq + 1)) or ""
    end
  end
  return nil
end

-- The verdict on one target: (malformed, namespace or nil).
local function classify(target)
  if target:sub(1, 1) ~= "/" then return true, nil end
  local q = target:find("?", 1, true)
  local path = q and target:sub(1, q - 1) or target
  local query = q and target:sub(q + 1) or nil
  if path:find(NOT_PATH) or not escapes_valid(path) then return true, nil end
  if query == nil then return false, nil end
  if query:find(NOT_QUERY) or not escapes_valid(query) then return true, nil end
  return false, first_namespace(query)
end

core.register_action("locktopus_namespace", { "http-req" }, function(txn)
  local malformed, ns = classify(txn.sf:pathq() or "")
  if malformed then
    txn:set_var("txn.locktopus_malformed", 1)
  elseif ns ~= nil then
    txn:set_var("txn.locktopus_ns", ns)
  end
  txn:set_var("txn.locktopus_checked", 1)
end)
