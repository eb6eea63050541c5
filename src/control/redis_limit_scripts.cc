#include "control/redis_limit_scripts.h"

namespace triage::control::redis_scripts {

namespace {

// Shared by every script: the calendar (the same as utc_calendar.cc), the clock that never goes
// back, and the expiry of the 60 s log.
constexpr const char* kPrelude = R"lua(
local WINDOW = 60000
local DAY = 86400000
local GRACE = 3600000          -- a period's counters outlive it by an hour
local IDLE_TTL = 40 * DAY      -- state of a key idle this long is dropped
local s, w, wt, r, rl = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base = ARGV[1]
local function fmt(x)
  if x == 0 then return '0' end  -- never "-0", which HINCRBY refuses
  return string.format('%.0f', x)
end
local function num(x) return tonumber(x) or 0 end
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function month_of(ms)
  local z = math.floor(ms / DAY) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                          - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y * 12 + (m - 1)
end
local function month_end_ms(month)
  local nxt = month + 1
  local y = math.floor(nxt / 12)
  return days_from_civil(y, nxt - y * 12 + 1, 1) * DAY
end
local function day_key(day) return base .. ':d:' .. fmt(day) end
local function month_key(month) return base .. ':m:' .. fmt(month) end
local function effective_now(now)
  local latest = tonumber(redis.call('HGET', s, 'latest'))
  if latest and latest > now then return latest end
  return now
end
-- A reservation in flight: "tokens nano day month" (day and month: the periods it was reserved
-- in). Records written before the periods were kept have two fields (day, month nil).
local function parse_reservation(rec)
  local f = {}
  for x in string.gmatch(rec, '%S+') do f[#f + 1] = x end
  return tonumber(f[1]), tonumber(f[2]), f[3], f[4]
end
-- Closes a reservation of `reserved` nano-USD in the day and month it was reserved in, charging
-- `charged` there instead; a period already expired owes nothing.
local function close_in_periods(day, month, reserved, charged)
  for _, k in ipairs({base .. ':d:' .. day, base .. ':m:' .. month}) do
    if redis.call('EXISTS', k) == 1 then
      local inf = num(redis.call('HGET', k, 'in_flight'))
      redis.call('HSET', k, 'in_flight', fmt(math.max(0, inf - reserved)))
      redis.call('HINCRBY', k, 'settled', fmt(charged))
    end
  end
end
-- Reservations whose lease ran out before a settle came (the replica holding them died: a live
-- one always settles, and renews the lease when it extends) are charged in full, as the
-- upstream may have billed them: never less than was spent, and the key's budget no longer
-- waits for the end of the month to get its in-flight money back.
local function expire_leases(now)
  local dead = redis.call('ZRANGEBYSCORE', rl, '-inf', fmt(now))
  if #dead == 0 then return end
  for i = 1, #dead do
    local rec = redis.call('HGET', r, dead[i])
    if rec then
      redis.call('HDEL', r, dead[i])
      local rt, rn, day, month = parse_reservation(rec)
      if day and month then close_in_periods(day, month, rn, rn) end
      redis.call('HINCRBY', s, 'tokens', fmt(rt))
      redis.call('HINCRBY', s, 'nano', fmt(rn))
      redis.call('HINCRBY', s, 'in_flight', -1)
      redis.call('HINCRBY', s, 'in_flight_nano', fmt(-rn))
      redis.call('HINCRBY', s, 'reservations_expired', 1)
    end
  end
  redis.call('ZREMRANGEBYSCORE', rl, '-inf', fmt(now))
end
-- Moves the key to `now` (never back), drops log entries at or before now - 60 s and expires
-- the reservations whose lease ran out.
local function advance(now)
  now = effective_now(now)
  expire_leases(now)
  redis.call('HSET', s, 'latest', fmt(now))
  local cutoff = fmt(now - WINDOW)
  local old = redis.call('ZRANGEBYSCORE', w, '-inf', cutoff)
  if #old > 0 then
    local freed = 0
    for i = 1, #old, 1000 do
      local chunk = {unpack(old, i, math.min(i + 999, #old))}
      local toks = redis.call('HMGET', wt, unpack(chunk))
      for j = 1, #toks do freed = freed + num(toks[j]) end
      redis.call('HDEL', wt, unpack(chunk))
    end
    redis.call('ZREMRANGEBYSCORE', w, '-inf', cutoff)
    redis.call('HINCRBY', wt, 'sum', fmt(-freed))
  end
  return now
end
local function period(key)
  local v = redis.call('HMGET', key, 'settled', 'in_flight')
  return num(v[1]), num(v[2])
end
-- Budget check for one period: true when `nano` more does not fit.
local function over(limit, settled, in_flight, nano)
  return limit > 0 and (nano > limit or settled + in_flight + nano > limit)
end
)lua";

constexpr const char* kReserve = R"lua(
local now = advance(tonumber(ARGV[2]))
local tokens, nano = tonumber(ARGV[4]), tonumber(ARGV[5])
local rpm, tpm = tonumber(ARGV[6]), tonumber(ARGV[7])
local dlim, mlim = tonumber(ARGV[8]), tonumber(ARGV[9])
local day, month = math.floor(now / DAY), month_of(now)
local dk, mk = day_key(day), month_key(month)
local in_window = redis.call('ZCARD', w)
local wtok = num(redis.call('HGET', wt, 'sum'))
local dset, dinf = period(dk)
local mset, minf = period(mk)
local refused, rpm_free, tpm_free = false, 0, 0
if rpm > 0 and in_window + 1 > rpm then
  refused = true
  local e = redis.call('ZRANGE', w, in_window - rpm, in_window - rpm, 'WITHSCORES')
  rpm_free = tonumber(e[2]) + WINDOW
end
if tpm > 0 and wtok + tokens > tpm then
  refused = true
  tpm_free = now + WINDOW
  if tokens <= tpm then
    local must = wtok + tokens - tpm
    local entries = redis.call('ZRANGE', w, 0, -1, 'WITHSCORES')
    local freed = 0
    for i = 1, #entries, 2 do
      freed = freed + num(redis.call('HGET', wt, entries[i]))
      if freed >= must then
        tpm_free = tonumber(entries[i + 1]) + WINDOW
        break
      end
    end
  end
end
if over(dlim, dset, dinf, nano) or over(mlim, mset, minf, nano) then refused = true end
if refused then
  return {0, now, day, month, in_window, wtok, rpm_free, tpm_free, dset, dinf, mset, minf}
end
local seq = redis.call('HINCRBY', s, 'seq', 1)
if rpm > 0 or tpm > 0 then
  redis.call('ZADD', w, fmt(now), seq)
  redis.call('HSET', wt, seq, ARGV[4])
  redis.call('HINCRBY', wt, 'sum', ARGV[4])
  redis.call('PEXPIRE', w, 2 * WINDOW)
  redis.call('PEXPIRE', wt, 2 * WINDOW)
end
redis.call('HINCRBY', dk, 'in_flight', ARGV[5])
redis.call('PEXPIRE', dk, fmt((day + 1) * DAY - now + GRACE))
redis.call('HINCRBY', mk, 'in_flight', ARGV[5])
redis.call('PEXPIRE', mk, fmt(month_end_ms(month) - now + GRACE))
redis.call('HSET', r, seq, ARGV[4] .. ' ' .. ARGV[5] .. ' ' .. fmt(day) .. ' ' .. fmt(month))
redis.call('PEXPIRE', r, IDLE_TTL)
redis.call('ZADD', rl, fmt(now + tonumber(ARGV[10])), seq)
redis.call('PEXPIRE', rl, IDLE_TTL)
redis.call('HSET', s, 'name', ARGV[3])
redis.call('HINCRBY', s, 'requests', 1)
redis.call('HINCRBY', s, 'in_flight', 1)
redis.call('HINCRBY', s, 'in_flight_nano', ARGV[5])
redis.call('PEXPIRE', s, IDLE_TTL)
return {1, now, day, month, seq}
)lua";

constexpr const char* kSettle = R"lua(
local seq = ARGV[2]
local rec = redis.call('HGET', r, seq)
if not rec then return 0 end
redis.call('HDEL', r, seq)
redis.call('ZREM', rl, seq)
local rt, rn = parse_reservation(rec)
local at, an = tonumber(ARGV[5]), tonumber(ARGV[6])
local e = tonumber(redis.call('HGET', wt, seq))
if e then
  redis.call('HSET', wt, seq, ARGV[5])
  redis.call('HINCRBY', wt, 'sum', fmt(at - e))
end
-- Money stays in the period it was reserved in.
close_in_periods(ARGV[3], ARGV[4], rn, an)
redis.call('HINCRBY', s, 'tokens', ARGV[5])
redis.call('HINCRBY', s, 'nano', ARGV[6])
redis.call('HINCRBY', s, 'in_flight', -1)
redis.call('HINCRBY', s, 'in_flight_nano', fmt(-rn))
if at > rt or an > rn then redis.call('HINCRBY', s, 'settled_over_reserved', 1) end
if ARGV[7] == '1' then redis.call('HINCRBY', s, 'released_unsettled', 1) end
return 1
)lua";

constexpr const char* kExtend = R"lua(
local now = advance(tonumber(ARGV[2]))
local seq = ARGV[3]
local day, month = math.floor(now / DAY), month_of(now)
local rec = redis.call('HGET', r, seq)
if not rec then return {1, now, day, month} end
local mt, mn = tonumber(ARGV[4]), tonumber(ARGV[5])
local tpm, dlim, mlim = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local same_day, same_month = fmt(day) == ARGV[9], fmt(month) == ARGV[10]
local dk, mk = day_key(day), month_key(month)
local entry = tonumber(redis.call('HGET', wt, seq))
local in_window = redis.call('ZCARD', w)
local wtok = num(redis.call('HGET', wt, 'sum'))
local dset, dinf = period(dk)
local mset, minf = period(mk)
local refused, tpm_free = false, 0
if tpm > 0 and entry and wtok + mt > tpm then
  refused = true
  tpm_free = tonumber(redis.call('ZSCORE', w, seq)) + WINDOW
end
if same_day and over(dlim, dset, dinf, mn) then refused = true end
if same_month and over(mlim, mset, minf, mn) then refused = true end
if refused then
  return {0, now, day, month, in_window, wtok, 0, tpm_free, dset, dinf, mset, minf}
end
if entry then
  redis.call('HSET', wt, seq, fmt(entry + mt))
  redis.call('HINCRBY', wt, 'sum', ARGV[4])
end
if same_day then redis.call('HINCRBY', dk, 'in_flight', ARGV[5]) end
if same_month then redis.call('HINCRBY', mk, 'in_flight', ARGV[5]) end
local rt, rn, rday, rmonth = parse_reservation(rec)
local periods = ''
if rday and rmonth then periods = ' ' .. rday .. ' ' .. rmonth end
redis.call('HSET', r, seq, fmt(rt + mt) .. ' ' .. fmt(rn + mn) .. periods)
redis.call('ZADD', rl, 'XX', fmt(now + tonumber(ARGV[11])), seq)
redis.call('HINCRBY', s, 'in_flight_nano', ARGV[5])
return {1, now, day, month}
)lua";

constexpr const char* kSpend = R"lua(
local now = effective_now(tonumber(ARGV[2]))
local h = redis.call('HMGET', s, 'name', 'requests', 'tokens', 'nano', 'in_flight',
                     'in_flight_nano', 'refused0', 'refused1', 'refused2', 'refused3',
                     'released_unsettled', 'settled_over_reserved', 'reservations_expired')
local out = {h[1] or ''}
for i = 2, #h do out[i] = num(h[i]) end
local today = period(day_key(math.floor(now / DAY)))
local this_month = period(month_key(month_of(now)))
out[#out + 1] = today
out[#out + 1] = this_month
local ids = redis.call('ZRANGEBYSCORE', w, '(' .. fmt(now - WINDOW), '+inf')
local toks = 0
for i = 1, #ids do toks = toks + num(redis.call('HGET', wt, ids[i])) end
out[#out + 1] = #ids
out[#out + 1] = toks
return out
)lua";

constexpr const char* kRestore = R"lua(
local now = effective_now(tonumber(ARGV[2]))
local day, month = math.floor(now / DAY), month_of(now)
local out = {0, 0}
local targets = {
  {day_key(day), ARGV[3], (day + 1) * DAY - now + GRACE},
  {month_key(month), ARGV[4], month_end_ms(month) - now + GRACE},
}
-- Raise, never add: counters that live in Redis already include the store's spend.
for i, t in ipairs(targets) do
  local want = tonumber(t[2])
  if want > 0 then
    if redis.call('EXISTS', t[1]) == 0 then
      redis.call('HSET', t[1], 'settled', t[2], 'in_flight', 0)
      redis.call('PEXPIRE', t[1], fmt(t[3]))
      out[i] = 1
    elseif (tonumber(redis.call('HGET', t[1], 'settled')) or 0) < want then
      redis.call('HSET', t[1], 'settled', t[2])
      out[i] = 1
    end
  end
end
return out
)lua";

constexpr const char* kForget = R"lua(
local latest = tonumber(redis.call('HGET', s, 'latest'))
if latest then
  redis.call('DEL', day_key(math.floor(latest / DAY)), month_key(month_of(latest)))
end
redis.call('DEL', s, w, wt, r, rl)
return 1
)lua";

std::string with_prelude(const char* body) { return std::string(kPrelude) + body; }

}  // namespace

std::string reserve() { return with_prelude(kReserve); }
std::string settle() { return with_prelude(kSettle); }
std::string extend() { return with_prelude(kExtend); }
std::string spend() { return with_prelude(kSpend); }
std::string restore() { return with_prelude(kRestore); }
std::string forget() { return with_prelude(kForget); }

}  // namespace triage::control::redis_scripts
