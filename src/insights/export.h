#pragma once
// `triage export`: turns reviewed traffic in the request store into training data, closing
// the loop labels -> `triage train` -> `triage eval` -> ship (docs/review.md).
//
//  - finetune: OpenAI fine-tuning JSONL, one {"messages":[...request..., {"role":"assistant",
//    "content": answer}]} per approved or corrected request.
//  - labels: a RouteLLM pair CSV (id, prompt, category, weak_correct, strong_correct, ...),
//    the format `triage train router` reads.
//
// Both need the stored payloads (store.keep_payloads: true); labeled requests without one are
// counted as skipped. Offline, blocking; reads the store read-only (safe while the gateway
// runs). Throws std::runtime_error naming the file on I/O or schema problems.
#include <cstdint>
#include <string>
#include <vector>

namespace triage::insights {

struct ExportFinetuneOptions {
  std::string store_path;
  std::string out_path;
  std::string category;  // empty: every category
  // Evidence required for an answer to be exported:
  //  "correct" (default): a reviewer's latest label is `correct` (the answer given) or carries a
  //    corrected_answer (that text);
  //  "feedback": also requests without a label whose latest user feedback carries a corrected
  //    answer (that text) or is positive (score >= 0.5: the answer given).
  std::string min_verdict = "correct";
};

struct ExportLabelsOptions {
  std::string store_path;
  std::string out_path;
  std::string format = "routellm";  // the only format so far
  std::string category;              // empty: every category
  // Tier order, cheapest first (config `tiers`), and the weak/strong pair the CSV grades.
  // Empty weak/strong: the first and the last tier.
  std::vector<std::string> tiers = {"small", "medium", "large"};
  std::string weak_tier;
  std::string strong_tier;
};

struct ExportReport {
  int64_t written = 0;
  int64_t skipped_no_payload = 0;   // labeled, but the prompt was not stored
  int64_t skipped_not_usable = 0;   // not approved (finetune) / grade not derivable (labels)
};

ExportReport export_finetune(const ExportFinetuneOptions& o);
ExportReport export_labels(const ExportLabelsOptions& o);

// The grades of one labeled request for a weak/strong pair, or false when they cannot be
// derived (see docs/review.md, "From labels to router training data"). Tier indexes are
// positions in the tier order; -1 = unknown. Pure; exposed for tests.
bool derive_pair_grades(int sufficient_idx, const std::string& verdict, int answered_idx,
                        int weak_idx, int strong_idx, int& weak_correct, int& strong_correct);

// The text a router reads from a stored `messages` JSON array: the last user message (string
// content, or its text parts joined with "\n"). Empty when there is none.
std::string last_user_text(const std::string& messages_json);

// CLI entries: run, print a one-line summary, return an exit code (errors to stderr).
int run_export_finetune(const ExportFinetuneOptions& o);
int run_export_labels(const ExportLabelsOptions& o);

}  // namespace triage::insights
