// The Lua scripts RedisBroker runs in Redis: each is atomic there, which is what lets many
// nodes share one sequence per group and count a user online once across them.
//
// Keys of group G (prefix P): P{G}:seq (the last id, a counter that never goes back),
// P{G}:log (the history, a stream whose entry ids are "<id>-0"), P{G}:online (presence: a
// sorted set of "<node>:<user>" scored by the time, in ms, the node's heartbeat expires) and
// the channel P{G}:ch; and Pepoch, the history's epoch.
//
// What goes over a group's channel (one string each):
//   M<id>\n<ts>\n<origin>\n<length of from>\n<from><text>   a message
//   J<user> / L<user>                                          a user came online / went
#pragma once

namespace huddle::broker::scripts {

// KEYS: seq, log, channel, epoch. ARGV: from, text, ts, origin, max entries (0: no limit),
// the epoch the node holds, max age in ms (0: none). Returns the message's id. The stream
// expires after max age without a message (all of it is then too old), so groups nobody
// visits keep nothing past it either; the counter never expires. An "EPOCH" error when the epoch is
// not the node's (Redis lost its data since the node read it: a counter starting again must
// not give out ids under the old epoch). Should the append fail (e.g. Redis out of memory)
// the counter goes back, so no id is lost, and the error is returned.
inline constexpr const char* publish = R"lua(
if redis.call('GET', KEYS[4]) ~= ARGV[6] then
  return redis.error_reply('EPOCH the history changed')
end
local id = redis.call('INCR', KEYS[1])
local add = {'XADD', KEYS[2]}
if tonumber(ARGV[5]) > 0 then
  add[#add + 1] = 'MAXLEN'; add[#add + 1] = '~'; add[#add + 1] = ARGV[5]
end
for _, v in ipairs({id .. '-0', 'f', ARGV[1], 't', ARGV[2], 'ts', ARGV[3], 'o', ARGV[4]}) do
  add[#add + 1] = v
end
local added = redis.pcall(unpack(add))
if type(added) == 'table' and added.err then
  redis.call('DECR', KEYS[1])
  return added
end
if tonumber(ARGV[7]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[7]) end
redis.call('PUBLISH', KEYS[3], 'M' .. id .. '\n' .. ARGV[3] .. '\n' .. ARGV[4] .. '\n' ..
  #ARGV[1] .. '\n' .. ARGV[1] .. ARGV[2])
return id
)lua";

// Shared by the presence scripts: whether `user` has an entry that has not expired at `now`
// other than `except`.
#define HUDDLE_PRESENCE_HELPERS                                                                    \
  "local function online_elsewhere(key, user, now, except)\n"                                      \
  "  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, now, '+inf')) do\n"                       \
  "    local u = string.sub(m, string.find(m, ':', 1, true) + 1)\n"                                \
  "    if u == user and m ~= except then return true end\n"                                        \
  "  end\n"                                                                                        \
  "  return false\n"                                                                               \
  "end\n"

// KEYS: online, channel. ARGV: node, user, expiry (ms), now (ms).
// Marks the user online on this node; publishes J when nowhere else had it online. Returns
// the other users online (not expired), each once.
inline constexpr const char* join = HUDDLE_PRESENCE_HELPERS R"lua(
local entry = ARGV[1] .. ':' .. ARGV[2]
if not online_elsewhere(KEYS[1], ARGV[2], ARGV[4], entry) then
  redis.call('PUBLISH', KEYS[2], 'J' .. ARGV[2])
end
redis.call('ZADD', KEYS[1], ARGV[3], entry)
local seen, users = {}, {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf')) do
  local u = string.sub(m, string.find(m, ':', 1, true) + 1)
  if u ~= ARGV[2] and not seen[u] then seen[u] = true; users[#users + 1] = u end
end
return users
)lua";

// KEYS: online, channel. ARGV: node, user, now (ms).
// The user's last connection on this node left: publishes L unless it is online elsewhere.
inline constexpr const char* leave = HUDDLE_PRESENCE_HELPERS R"lua(
local entry = ARGV[1] .. ':' .. ARGV[2]
if redis.call('ZREM', KEYS[1], entry) == 1 and
   not online_elsewhere(KEYS[1], ARGV[2], ARGV[3], entry) then
  redis.call('PUBLISH', KEYS[2], 'L' .. ARGV[2])
end
return 0
)lua";

// KEYS: online, channel, seq. ARGV: node, expiry (ms), now (ms), then the users online on
// this node. Refreshes their entries, removes expired ones (a node that died) with an L for
// each user that is then online nowhere, and returns the group's last id.
inline constexpr const char* heartbeat = HUDDLE_PRESENCE_HELPERS R"lua(
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1] .. ':' .. ARGV[i])
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])) do
  redis.call('ZREM', KEYS[1], m)
  local u = string.sub(m, string.find(m, ':', 1, true) + 1)
  if not online_elsewhere(KEYS[1], u, ARGV[3], m) then
    redis.call('PUBLISH', KEYS[2], 'L' .. u)
  end
end
return tonumber(redis.call('GET', KEYS[3]) or '0')
)lua";

#undef HUDDLE_PRESENCE_HELPERS

// KEYS: log. ARGV: the oldest ts (ms) to keep. Trims entries older than it from the front.
// Returns how many went.
inline constexpr const char* trim_age = R"lua(
local removed = 0
while true do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
  if #first == 0 then return removed end
  local keep = nil
  for _, entry in ipairs(first) do
    local fields = entry[2]
    local ts = nil
    for i = 1, #fields, 2 do
      if fields[i] == 'ts' then ts = tonumber(fields[i + 1]) end
    end
    if ts ~= nil and ts >= tonumber(ARGV[1]) then keep = entry[1]; break end
  end
  if keep then
    return removed + redis.call('XTRIM', KEYS[1], 'MINID', keep)
  end
  for _, entry in ipairs(first) do redis.call('XDEL', KEYS[1], entry[1]) end
  removed = removed + #first
end
)lua";

// KEYS: epoch. ARGV: a new random epoch. The history's epoch, set now when Redis has none
// (a new Redis, or one that lost its data: every id before is void).
inline constexpr const char* epoch = R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
)lua";

} // namespace huddle::broker::scripts
