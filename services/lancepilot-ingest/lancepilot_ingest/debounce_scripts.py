"""The debounce buffer's Redis scripts: each step is one atomic script on one Redis clock.

KEYS/ARGV are described above each script; `Debouncer` (debounce.py) registers and calls them.
"""

from __future__ import annotations

# the buffer hash field that marks a burst to flush at once (keyword or size)
FORCE_FIELD = "_f"

ADD_LUA = """
local arrival = tonumber(ARGV[8])
if arrival == 0 then
  local t = redis.call('TIME')
  arrival = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if redis.call('HEXISTS', KEYS[4], ARGV[2]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], arrival, ARGV[2])
if ARGV[7] == '1' then redis.call('HSET', KEYS[2], '_f', '1') end
local first = tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2])
local last = tonumber(redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')[2])
local deadline = math.min(last + tonumber(ARGV[4]), first + tonumber(ARGV[5]))
if redis.call('HEXISTS', KEYS[2], '_f') == 1
   or redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then
  deadline = math.min(deadline, arrival)
end
redis.call('ZADD', KEYS[1], string.format('%d', deadline), ARGV[1])
return deadline
"""

# KEYS: due, claimed, tokens. ARGV: key prefix, lease ms, batch, token base.
CLAIM_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease_until = string.format('%d', now + tonumber(ARGV[2]))
local batch = tonumber(ARGV[3])
local out = {}
local n = 0
local function take(m)
  n = n + 1
  local tok = ARGV[4] .. ':' .. n
  redis.call('ZADD', KEYS[2], lease_until, m)
  redis.call('HSET', KEYS[3], m, tok)
  out[#out + 1] = {m, tok, redis.call('HGETALL', ARGV[1] .. 'f:' .. m)}
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)) do
  take(m)
end
if n < batch then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch * 4)
  for _, m in ipairs(due) do
    if n >= batch then break end
    if not redis.call('ZSCORE', KEYS[2], m) then
      redis.call('ZREM', KEYS[1], m)
      local b = ARGV[1] .. 'b:' .. m
      if redis.call('EXISTS', b) == 1 then
        redis.call('RENAME', b, ARGV[1] .. 'f:' .. m)
        redis.call('DEL', ARGV[1] .. 'a:' .. m)
        take(m)
      end
    end
  end
end
local nxt = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {now, nxt[2] or '-1', out}
"""

# KEYS: claimed, tokens. ARGV: key prefix, mode ('done' | retry delay ms), member, token, ...
SETTLE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local settled = 0
for i = 3, #ARGV, 2 do
  local m = ARGV[i]
  if redis.call('HGET', KEYS[2], m) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], m)
    if ARGV[2] == 'done' then
      redis.call('DEL', ARGV[1] .. 'f:' .. m)
      redis.call('ZREM', KEYS[1], m)
    else
      redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), m)
    end
    settled = settled + 1
  end
end
return settled
"""
