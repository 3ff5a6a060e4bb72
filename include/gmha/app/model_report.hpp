#pragma once
// The report folder of `gmha report` (issue 6): report.md, a self-contained report.html (inline
// SVG, inline CSS, no network), SVG figures beside them and LaTeX booktabs tables for papers.
// Contents: capacity, per-token decode and cost tables for the models and cards given; figures of
// KV cache vs context, the roofline view and cost per 1M tokens vs context per card; and, given an
// audit, the rank-audit section (measured vs nominal TER/SLSD per layer, a heat map of per-head
// entropy effective rank, spectra of the worst heads); given an audit diff, its per-layer table
// and heat maps of each head's largest subspace angle (QK and VO).
//
// build_report is pure (returns the files); write_report_folder does the I/O.
#include <optional>
#include <string>
#include <vector>

#include "gmha/attention/model.hpp"
#include "gmha/attention/weights.hpp"
#include "gmha/capacity/hardware.hpp"
#include "gmha/rank/audit.hpp"
#include "gmha/rank/audit_diff.hpp"

namespace gmha::app {

struct ReportInput {
  std::string title = "gmha report";
  std::string command;  // the command line that reproduces it (shown verbatim)
  std::vector<ModelDesign> models;
  std::vector<Hardware> cards;
  std::vector<int64_t> contexts = {8192, 32768, 131072};  // table contexts T
  Convention convention = Convention::kExact;
  // Serving (issue 15): the precision charged, TP devices per card group, the weights stored
  // ("" : each model's own, capacity/weight_format.hpp's default_weight_format).
  ComputeDType compute_dtype = ComputeDType::kBf16;
  int64_t tp = 1;
  int64_t ep = 1;  // expert groups over the tp devices
  std::string weight_dtype;
  std::optional<AuditReport> audit;
  std::string audit_source;  // path of the audit JSON or checkpoint
  size_t worst_heads = 4;    // spectra plotted for this many heads
  std::optional<AuditDiffReport> audit_diff;  // `report --audit-diff A B`: the diff section
};

struct ReportFile {
  std::string name;  // relative path inside the folder, e.g. "figures/kv_cache.svg"
  std::string content;
};

/// Builds every file of the report. Throws InputError when there is nothing to report (no model,
/// no audit and no audit diff), a context is not positive, or a model's figures cannot be computed.
std::vector<ReportFile> build_report(const ReportInput& input);

/// Writes the files into `dir` atomically-ish: free space is checked first, then everything goes
/// to a fresh sibling temp folder, which then replaces `dir` by rename (an earlier report there
/// is replaced; any other non-empty folder, or one holding checkpoint files, is refused with
/// InputError unless `force`). A failure leaves `dir` as it was.
void write_report_folder(const std::string& dir, const std::vector<ReportFile>& files,
                         bool force = false);

}  // namespace gmha::app
