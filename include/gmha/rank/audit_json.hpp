#pragma once
// The audit as JSON (the keys: layers[{layer, nominal{frh,slsd,ter}, measured{slsd,ter},
// heads[{head, kv_head, qk, vo, qk_rope}]}], rank_tol, energy, summary), read back, and merged:
// `gmha audit --layers A-B --format json` shards from independent jobs join into one report.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmha/rank/audit.hpp"

namespace gmha {

/// Everything in the report; full spectra (qk/vo/qk_rope "sigma", layer "key_sigma") only when
/// `spectra` is true. Doubles are written with round-trip precision.
nlohmann::ordered_json audit_to_json(const AuditReport& report, bool spectra);

/// Reads a report written by audit_to_json; `where` names the file in errors (InputError naming
/// the missing or mistyped key).
AuditReport audit_from_json(const nlohmann::json& j, const std::string& where);

/// Joins shards of one audit. Throws InputError naming the shard when architectures, layer counts,
/// tolerances or energy levels differ, or when two shards hold the same layer. Layers come out in
/// order.
AuditReport merge_audits(const std::vector<AuditReport>& shards,
                         const std::vector<std::string>& names);

}  // namespace gmha
