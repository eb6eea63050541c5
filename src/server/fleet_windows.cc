#include "server/fleet_windows.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <set>

#include "common/clock.h"
#include "common/ids.h"
#include "telemetry/store_reader.h"

namespace triage::server {

std::string encode_latency(const std::array<uint32_t, control::kLatencyBins>& latency) {
  std::string out;
  for (size_t i = 0; i < latency.size(); ++i) {
    if (latency[i] == 0) continue;
    if (!out.empty()) out += ',';
    out += std::to_string(i) + ':' + std::to_string(latency[i]);
  }
  return out;
}

std::array<uint32_t, control::kLatencyBins> decode_latency(const std::string& text) {
  std::array<uint32_t, control::kLatencyBins> out{};
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    size_t bin = 0;
    uint32_t count = 0;
    auto [after_bin, e1] = std::from_chars(p, end, bin);
    if (e1 == std::errc() && after_bin < end && *after_bin == ':') {
      auto [after_count, e2] = std::from_chars(after_bin + 1, end, count);
      if (e2 == std::errc() && bin < out.size()) out[bin] += count;
      p = after_count;
    } else {
      p = after_bin;
    }
    while (p < end && *p != ',') ++p;  // skips the rest of a bad entry
    if (p < end) ++p;
  }
  return out;
}

FleetWindows::FleetWindows(std::unique_ptr<telemetry::WindowSliceDb> db, int64_t period_ms,
                           telemetry::Metrics& metrics, std::string replica, Clock clock)
    : db_(std::move(db)),
      period_ms_(std::max<int64_t>(period_ms, 1)),
      metrics_(metrics),
      replica_(std::move(replica)),
      clock_(clock ? std::move(clock) : Clock([] { return unix_time_ms(); })) {}

FleetWindows::~FleetWindows() { stop(); }

std::unique_ptr<FleetWindows> FleetWindows::open(const config::Config& cfg,
                                                 telemetry::Metrics& metrics) {
  if (cfg.store.config_poll_ms <= 0) return nullptr;
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  auto reader = telemetry::open_store_reader(cfg, options, "the fleet's window counts");
  if (!reader) {
    spdlog::warn("fleet numbers off: SLOs and rollouts judge on this replica's counts only: {}",
                 reader.error().message);
    return nullptr;
  }
  spdlog::info("fleet numbers: replica {} publishes its window counts every {} ms", replica_id(),
               cfg.store.config_poll_ms);
  return std::make_unique<FleetWindows>(std::move(reader).value(), cfg.store.config_poll_ms,
                                        metrics, replica_id());
}

void FleetWindows::start() { worker_.start(/*run_first=*/false); }

void FleetWindows::stop() { worker_.stop(); }

void FleetWindows::add(const std::string& key, std::weak_ptr<const control::OutcomeWindow> window) {
  std::lock_guard lk(mu_);
  windows_[key] = std::move(window);
}

std::vector<telemetry::StoredWindowSlice> FleetWindows::collect(int64_t now_ms,
                                                                std::vector<std::string>& keys) {
  std::vector<std::pair<std::string, std::shared_ptr<const control::OutcomeWindow>>> live;
  {
    std::lock_guard lk(mu_);
    for (auto it = windows_.begin(); it != windows_.end();) {
      if (auto w = it->second.lock()) {
        live.emplace_back(it->first, std::move(w));
        ++it;
      } else {
        it = windows_.erase(it);
      }
    }
  }
  std::vector<telemetry::StoredWindowSlice> rows;
  for (const auto& [key, window] : live) {
    keys.push_back(key);
    for (const control::WindowSlice& s : window->snapshot(now_ms)) {
      rows.push_back(telemetry::StoredWindowSlice{replica_, key, s.start_ms, s.requests, s.ok,
                                                  s.compared, s.agreed, s.cost_usd,
                                                  encode_latency(s.latency), now_ms});
    }
  }
  return rows;
}

void FleetWindows::sync(int64_t now_ms) {
  std::vector<std::string> keys;
  const std::vector<telemetry::StoredWindowSlice> rows = collect(now_ms, keys);
  if (auto r = db_->publish_window_slices(replica_, rows, now_ms); !r) {
    metrics_.count_fleet_publish_error();
    if (!failing_) spdlog::warn("fleet numbers: publish failed: {}", r.error().message);
    failing_ = true;
  } else {
    if (failing_) spdlog::info("fleet numbers: publishing again");
    failing_ = false;
  }
  if (++syncs_ % kPruneAfterPeriods == 0) {
    (void)db_->delete_window_slices_before(now_ms - kPruneAfterPeriods * period_ms_);
  }
  auto read = db_->other_window_slices(keys, replica_, now_ms - kDeadAfterPeriods * period_ms_);
  if (!read) {
    spdlog::warn("fleet numbers: the other replicas' counts not read: {}", read.error().message);
    return;  // keeps the last read: a number a period older beats none
  }
  std::map<std::string, std::vector<OtherSlice>> others;
  std::set<std::string> replicas;
  for (telemetry::StoredWindowSlice& row : read.value()) {
    control::WindowSlice s;
    s.start_ms = row.slice_start_ms;
    s.requests = row.requests;
    s.ok = row.ok;
    s.compared = row.compared;
    s.agreed = row.agreed;
    s.cost_usd = row.cost_usd;
    s.latency = decode_latency(row.latency);
    replicas.insert(row.replica);
    others[row.window_key].push_back(OtherSlice{std::move(row.replica), s});
  }
  metrics_.set_fleet_replicas(static_cast<int64_t>(replicas.size()) + 1);
  std::lock_guard lk(mu_);
  others_ = std::move(others);
}

FleetStats FleetWindows::stats(const std::string& key, const control::OutcomeWindow& local,
                               int64_t now_ms, int64_t since_ms) const {
  std::vector<control::WindowSlice> slices;
  std::set<std::string> replicas;
  {
    std::lock_guard lk(mu_);
    auto it = others_.find(key);
    if (it != others_.end()) {
      for (const OtherSlice& o : it->second) {
        if (o.slice.start_ms + local.slice_ms() <= since_ms) continue;  // before the step
        if (!local.is_live(o.slice.start_ms, now_ms)) continue;
        slices.push_back(o.slice);
        replicas.insert(o.replica);
      }
    }
  }
  return FleetStats{local.stats(now_ms, slices), static_cast<int64_t>(replicas.size()) + 1};
}

}  // namespace triage::server
