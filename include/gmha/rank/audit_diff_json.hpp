#pragma once
// `gmha audit diff` as JSON (keys in docs/audit.md, "audit diff"): both checkpoints, p, per layer
// a summary and every head's QK and VO figures in A and B, their changes and the largest
// principal angles; the heads that moved most.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/rank/audit_diff.hpp"

namespace gmha {

/// A head of the diff, for rankings.
struct MovedHead {
  const LayerDiff* layer;
  const HeadDiff* head;
};
/// The finite heads by their largest angle, largest first (ties by layer, then head), at most
/// `count` of them; then the non-finite heads, which have no angle.
std::vector<MovedHead> most_moved_heads(const AuditDiffReport& report, int64_t count);

nlohmann::ordered_json audit_diff_to_json(const AuditDiffReport& report, int64_t worst);

}  // namespace gmha
