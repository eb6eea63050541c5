#pragma once
// Weak/strong pair metrics (RouteLLM, arXiv 2406.18665; DESIGN.md "Evaluation vocabulary").
// Pure functions over per-row grades and routing choices; no I/O.
//
//   PGR(q)   = (q - weak) / (strong - weak), where weak/strong are the all-weak/all-strong
//              qualities on the same rows.
//   APGR     = area under PGR against the share of strong calls, trapezoid rule over [0, 1].
//              The curve always contains (0, 0) (all weak) and (1, 1) (all strong): a sweep that
//              lacks an endpoint gets it added.
//   CPT(x)   = the smallest share of strong calls at which the piecewise-linear PGR curve
//              reaches x (linear interpolation inside a segment); nullopt if it never does.
// Random routing: PGR(share) = share in expectation, so APGR = 0.5 and CPT(x) = x.
#include <cstdint>
#include <optional>
#include <vector>

namespace triage::ml {

struct PgrPoint {
  double strong_share = 0.0;  // 0..1
  double pgr = 0.0;
};

// (quality - weak) / (strong - weak); 0 when strong == weak (no gap to recover).
double pgr(double quality, double weak_quality, double strong_quality);

// Sorted by share (then PGR), with the endpoints added when missing.
std::vector<PgrPoint> pgr_curve(std::vector<PgrPoint> points);
double apgr(const std::vector<PgrPoint>& points);
std::optional<double> cpt(const std::vector<PgrPoint>& points, double target_pgr);

// One evaluated row of a pair: both recorded grades (0..1) and what the route chose.
struct PairRow {
  double weak_grade = 0.0;
  double strong_grade = 0.0;
  bool routed_strong = false;
};

// Routing against the oracle (strong exactly when its grade is higher than the weak one's).
// Rates are fractions of all rows; accuracy = 1 - over - under.
struct RoutingRates {
  double accuracy = 0.0;
  double over_routing = 0.0;   // strong chosen where weak did as well (a pricier model than needed)
  double under_routing = 0.0;  // weak chosen where it did worse than strong would have
};
RoutingRates routing_rates(const std::vector<PairRow>& rows);

// The oracle's best quality at each share of strong calls: the rows sorted by gain
// (strong - weak), the k best sent strong. Returned as (share, quality) points at every change
// of gain (exact for 0/1 grades: flat where the gain is 0), from share 0 to 1.
struct QualityPoint {
  double strong_share = 0.0;
  double quality = 0.0;
};
std::vector<QualityPoint> oracle_curve(const std::vector<PairRow>& rows);

// The exact PGR curve of a per-row score (a router's P(strong needed), a cascade scorer's
// P(acceptable)): rows are sent strong in score order, highest first when `high_goes_strong`,
// else lowest first, with one point per distinct score (ties move together, as a threshold moves
// them), starting at (0, 0). `weak` and `strong` are the rows' grades; their means are returned
// as the all-weak and all-strong qualities. Rows must be non-empty and all vectors equally long.
struct ScoreCurve {
  std::vector<PgrPoint> points;
  double weak_quality = 0.0;
  double strong_quality = 0.0;
};
ScoreCurve score_pgr_curve(const std::vector<double>& score, const std::vector<double>& weak,
                           const std::vector<double>& strong, bool high_goes_strong);

}  // namespace triage::ml
