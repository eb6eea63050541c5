#include "control/outcome_window.h"

#include <algorithm>
#include <cmath>

namespace triage::control {

namespace {

constexpr double kFirstEdgeMs = 0.1;
// 96 bins from 0.1 ms to 100 s: each edge is the previous times 10^(6/96) (~15.5%).
const double kGrowth = std::pow(10.0, 6.0 / OutcomeWindow::kLatencyBins);

}  // namespace

OutcomeWindow::OutcomeWindow(int64_t window_ms, int buckets)
    : window_ms_(std::max<int64_t>(window_ms, 1)),
      slice_ms_(std::max<int64_t>(window_ms_ / std::max(buckets, 1), 1)),
      slices_(static_cast<size_t>(std::max(buckets, 1)) + 1) {}

double OutcomeWindow::bin_upper_ms(int i) { return kFirstEdgeMs * std::pow(kGrowth, i); }

int OutcomeWindow::bin_of(double latency_ms) {
  if (!(latency_ms > kFirstEdgeMs)) return 0;
  const int i = static_cast<int>(std::ceil(std::log(latency_ms / kFirstEdgeMs) / std::log(kGrowth)));
  return std::clamp(i, 0, kLatencyBins - 1);
}

OutcomeWindow::Slice& OutcomeWindow::slice_for(int64_t now_ms) {
  const int64_t start = now_ms - now_ms % slice_ms_;
  Slice& s = slices_[static_cast<size_t>(start / slice_ms_) % slices_.size()];
  if (s.start_ms != start) s = Slice{start};
  return s;
}

void OutcomeWindow::record(int64_t now_ms, const Outcome& o) {
  std::lock_guard lk(mu_);
  add(slice_for(now_ms), o);
}

OutcomeWindow::Slice* OutcomeWindow::live_slice(int64_t at_ms, int64_t now_ms) {
  if (at_ms > now_ms) return nullptr;
  const int64_t start = at_ms - at_ms % slice_ms_;
  if (!is_live(start, now_ms)) return nullptr;  // fallen out (as in stats())
  Slice& s = slices_[static_cast<size_t>(start / slice_ms_) % slices_.size()];
  if (s.start_ms == start) return &s;
  // Never used since: the ring slot of an older slice that is still in the window is never
  // reused (the ring has one slot more than the window's slices), so start it here.
  if (s.start_ms < start) {
    s = Slice{start};
    return &s;
  }
  return nullptr;
}

bool OutcomeWindow::record_at(int64_t at_ms, int64_t now_ms, const Outcome& o) {
  std::lock_guard lk(mu_);
  Slice* s = live_slice(at_ms, now_ms);
  if (!s) return false;
  add(*s, o);
  return true;
}

bool OutcomeWindow::mark_failed(int64_t at_ms, int64_t now_ms) {
  std::lock_guard lk(mu_);
  Slice* s = live_slice(at_ms, now_ms);
  if (!s || s->ok == 0) return false;
  --s->ok;
  return true;
}

void OutcomeWindow::add(Slice& s, const Outcome& o) {
  ++s.requests;
  if (o.ok) ++s.ok;
  s.cost_usd += o.cost_usd;
  if (o.agrees) {
    ++s.compared;
    if (*o.agrees) ++s.agreed;
  }
  ++s.latency[static_cast<size_t>(bin_of(o.latency_ms))];
}

bool OutcomeWindow::is_live(int64_t start_ms, int64_t now_ms) const {
  return start_ms >= 0 && start_ms + slice_ms_ > now_ms - window_ms_ && start_ms <= now_ms;
}

namespace {

// Adds one slice's counts to `w` and its histogram to `latency`.
void accumulate(const WindowSlice& s, WindowStats& w,
                std::array<uint64_t, kLatencyBins>& latency) {
  w.requests += s.requests;
  w.ok += s.ok;
  w.cost_usd += s.cost_usd;
  w.compared += s.compared;
  w.agreed += s.agreed;
  for (size_t i = 0; i < latency.size(); ++i) latency[i] += s.latency[i];
}

// The upper edge of the bin holding the 95th percentile; 0 without requests.
double p95_of(const std::array<uint64_t, kLatencyBins>& latency, int64_t requests) {
  if (requests <= 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(0.95 * static_cast<double>(requests)));
  uint64_t seen = 0;
  for (int i = 0; i < kLatencyBins; ++i) {
    seen += latency[static_cast<size_t>(i)];
    if (seen >= rank) return OutcomeWindow::bin_upper_ms(i);
  }
  return 0;
}

}  // namespace

WindowStats OutcomeWindow::stats(int64_t now_ms) const { return stats(now_ms, {}); }

WindowStats OutcomeWindow::stats(int64_t now_ms, const std::vector<WindowSlice>& others) const {
  WindowStats w;
  std::array<uint64_t, kLatencyBins> latency{};
  {
    std::lock_guard lk(mu_);
    for (const Slice& s : slices_) {
      if (is_live(s.start_ms, now_ms)) accumulate(s, w, latency);
    }
  }
  for (const WindowSlice& s : others) {
    if (s.start_ms % slice_ms_ == 0 && is_live(s.start_ms, now_ms)) accumulate(s, w, latency);
  }
  w.p95_latency_ms = p95_of(latency, w.requests);
  return w;
}

std::vector<WindowSlice> OutcomeWindow::snapshot(int64_t now_ms) const {
  std::vector<WindowSlice> out;
  {
    std::lock_guard lk(mu_);
    for (const Slice& s : slices_) {
      if (s.requests > 0 && is_live(s.start_ms, now_ms)) out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const WindowSlice& a, const WindowSlice& b) { return a.start_ms < b.start_ms; });
  return out;
}

void OutcomeWindow::clear() {
  std::lock_guard lk(mu_);
  for (Slice& s : slices_) s = Slice{};
}

}  // namespace triage::control
