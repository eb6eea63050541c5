#pragma once
// The Lua scripts of RedisLimitBackend (redis_limits.h), one per operation, each atomic in Redis.
// Every script takes KEYS = {P{ID}:s, P{ID}:w, P{ID}:wt, P{ID}:r} and ARGV[1] = P{ID} (period
// keys are P{ID}:d:DAY and P{ID}:m:MONTH, computed in the script from the time it settles on).
// Numbers cross as decimal strings; Lua's doubles hold every value exactly below 2^53 (nano-USD:
// budgets up to $9M; times: any unix ms).
//
// reserve ARGV: base, now_ms, name, tokens, nano, rpm, tpm, day_limit_nano, month_limit_nano
//   -> {1, now, day, month, seq} admitted, or
//      {0, now, day, month, in_window, window_tokens, rpm_free_at_ms, tpm_free_at_ms,
//       day_settled, day_in_flight, month_settled, month_in_flight} refused (nothing counted)
// settle ARGV: base, seq, day, month, actual_tokens, actual_nano, unsettled(0|1)
//   -> 1 settled, 0 not in flight (settled already, or lost with Redis's data)
// extend ARGV: base, now_ms, seq, more_tokens, more_nano, tpm, day_limit, month_limit, day, month
//   -> {1, now, day, month} grown (or nothing to grow), or the refused shape of reserve
// spend ARGV: base, now_ms
//   -> {name, requests, tokens, nano, in_flight, in_flight_nano, refused0..3,
//       released_unsettled, settled_over_reserved, today_nano, month_nano, window_requests,
//       window_tokens}
// restore ARGV: base, now_ms, day_nano, month_nano -> {day_restored(0|1), month_restored(0|1)}
// forget ARGV: base -> 1
#include <string>

namespace triage::control::redis_scripts {

std::string reserve();
std::string settle();
std::string extend();
std::string spend();
std::string restore();
std::string forget();

}  // namespace triage::control::redis_scripts
