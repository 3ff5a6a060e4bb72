#include "gmha/rank/audit_json.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "gmha/core/error.hpp"

namespace gmha {
namespace {

using ojson = nlohmann::ordered_json;

ojson circuit_json(const CircuitAudit& c, bool spectra) {
  ojson j;
  j["nominal_rank"] = c.nominal_rank;
  j["finite"] = c.finite;
  // A non-finite circuit has no metrics: null, never a 0 that reads as a measured rank.
  auto metric = [&](auto v) { return c.finite ? ojson(v) : ojson(); };
  j["sigma_1"] = metric(c.metrics.sigma_1);
  j["numerical_rank"] = metric(c.metrics.numerical_rank);
  j["energy_rank"] = metric(c.metrics.energy_rank);
  j["entropy_rank"] = metric(c.metrics.entropy_rank);
  j["stable_rank"] = metric(c.metrics.stable_rank);
  j["rank_tol"] = metric(c.rank_tol);
  if (spectra && !c.sigma.empty()) j["sigma"] = c.sigma;
  return j;
}

// Typed access with one-line errors naming the file and the key path.
struct Reader {
  const std::string& where;
  const nlohmann::json& at(const nlohmann::json& j, const char* key, const std::string& path) const {
    if (!j.is_object() || !j.contains(key)) {
      throw InputError(fmt::format("{}: missing key '{}{}'", where, path, key));
    }
    return j.at(key);
  }
  template <typename T>
  T get(const nlohmann::json& j, const char* key, const std::string& path) const {
    const nlohmann::json& v = at(j, key, path);
    try {
      return v.get<T>();
    } catch (const nlohmann::json::exception&) {
      throw InputError(fmt::format("{}: key '{}{}' has the wrong type", where, path, key));
    }
  }
  CircuitAudit circuit(const nlohmann::json& j, const std::string& path) const {
    CircuitAudit c;
    c.nominal_rank = get<int64_t>(j, "nominal_rank", path);
    c.finite = get<bool>(j, "finite", path);
    if (!c.finite) return c;  // metrics are null (audit_to_json)
    c.metrics.sigma_1 = get<double>(j, "sigma_1", path);
    c.metrics.numerical_rank = get<int64_t>(j, "numerical_rank", path);
    c.metrics.energy_rank = get<int64_t>(j, "energy_rank", path);
    c.metrics.entropy_rank = get<double>(j, "entropy_rank", path);
    c.metrics.stable_rank = get<double>(j, "stable_rank", path);
    if (j.contains("rank_tol")) c.rank_tol = get<double>(j, "rank_tol", path);
    if (j.contains("sigma")) c.sigma = get<std::vector<double>>(j, "sigma", path);
    return c;
  }
};

}  // namespace

nlohmann::ordered_json audit_to_json(const AuditReport& r, bool spectra) {
  ojson j;
  j["tool"] = "gmha audit";
  j["checkpoint"] = r.checkpoint;
  j["format"] = r.format;
  j["architecture"] = r.architecture;
  j["model_layers"] = r.model_layers;
  j["rank_tol_mode"] = r.rank_tol_mode;
  // noise: each circuit has its own τ (its `rank_tol`); the file-level τ exists only when fixed.
  j["rank_tol"] = r.rank_tol_mode == "fixed" ? ojson(r.rank_tol) : ojson();
  j["rounding_noise"] = r.rank_tol_mode == "noise" ? ojson(r.rounding_noise) : ojson();
  j["noise_factor"] = r.rank_tol_mode == "noise" ? ojson(kNoiseFactor) : ojson();
  j["rank_tol_source"] = r.rank_tol_source;
  j["energy"] = r.energy;
  ojson layers = ojson::array();
  for (const auto& l : r.layers) {
    ojson lj;
    lj["layer"] = l.layer;
    if (l.parallel) lj["parallel"] = true;  // the layer's second mixer (Falcon-H1)
    lj["layout"] = l.layout;
    if (!l.mixer.empty()) lj["mixer"] = l.mixer;
    lj["variant"] = l.variant;
    lj["audited"] = l.audited;
    lj["nominal"] = {{"frh", l.nominal.frh}, {"slsd", l.nominal.slsd}, {"ter", l.nominal.ter},
                     {"frh_bound", l.nominal.frh_bound}, {"slsd_head", l.nominal.slsd_head}};
    lj["measured"] = {{"slsd", l.key_finite ? ojson(l.measured_slsd) : ojson()},
                      {"slsd_head", l.key_finite ? ojson(l.measured_slsd_head) : ojson()},
                      {"ter", l.measured_ter},
                      {"ter_entropy", l.measured_ter_entropy},
                      {"slsd_rank_tol", l.audited && l.key_finite ? ojson(l.key_rank_tol) : ojson()}};
    lj["flags"] = {{"slsd_below_nominal", l.slsd_below_nominal()},
                   {"heads_below_nominal", l.heads_below_nominal},
                   {"dead_heads", l.dead_heads},
                   {"nonfinite_heads", l.nonfinite_heads},
                   {"nonfinite_tensors", l.nonfinite_tensors}};
    if (spectra && !l.key_sigma.empty()) lj["key_sigma"] = l.key_sigma;
    ojson heads = ojson::array();
    for (const auto& h : l.heads) {
      ojson hj;
      hj["head"] = h.head;
      hj["kv_head"] = h.kv_head;
      hj["qk"] = circuit_json(h.qk, spectra);
      hj["vo"] = circuit_json(h.vo, spectra);
      if (h.qk_rope) hj["qk_rope"] = circuit_json(*h.qk_rope, spectra);
      hj["flags"] = {{"qk_below_nominal", h.qk_below_nominal}, {"vo_below_nominal", h.vo_below_nominal},
                     {"qk_dead", h.qk_dead}, {"vo_dead", h.vo_dead}};
      heads.push_back(std::move(hj));
    }
    lj["heads"] = std::move(heads);
    if (!l.indexer.empty()) {
      ojson ix = ojson::array();
      for (const auto& c : l.indexer) ix.push_back(circuit_json(c, spectra));
      lj["indexer"] = std::move(ix);
    }
    if (!l.recurrent_q.empty()) {
      ojson q = ojson::array(), k = ojson::array();
      for (const auto& c : l.recurrent_q) q.push_back(circuit_json(c, spectra));
      for (const auto& c : l.recurrent_k) k.push_back(circuit_json(c, spectra));
      lj["recurrent"] = {{"q", std::move(q)}, {"k", std::move(k)}};
    }
    if (!l.output_groups.empty()) {
      ojson og = ojson::array();
      for (const auto& c : l.output_groups) og.push_back(circuit_json(c, spectra));
      lj["output_groups"] = std::move(og);
    }
    if (!l.compressor.empty()) {
      ojson cj = ojson::array();
      for (const auto& c : l.compressor) cj.push_back(circuit_json(c, spectra));
      lj["compressor"] = std::move(cj);
    }
    if (!l.notes.empty()) lj["notes"] = l.notes;
    layers.push_back(std::move(lj));
  }
  j["layers"] = std::move(layers);
  const AuditSummary s = summarize(r);
  j["summary"] = {{"layers", s.layers},
                  {"heads", s.heads},
                  {"nominal_ter", s.nominal_ter},
                  {"measured_ter", s.measured_ter},
                  {"measured_ter_entropy", s.measured_ter_entropy},
                  {"heads_below_nominal", s.heads_below_nominal},
                  {"dead_heads", s.dead_heads},
                  {"layers_slsd_below_nominal", s.layers_slsd_below_nominal},
                  {"layers_with_nonfinite", s.layers_with_nonfinite},
                  {"nonfinite_heads", s.nonfinite_heads},
                  {"min_qk_entropy_rank", s.min_qk_entropy_rank},
                  {"mean_qk_entropy_rank", s.mean_qk_entropy_rank}};
  return j;
}

AuditReport audit_from_json(const nlohmann::json& j, const std::string& where) {
  const Reader rd{where};
  AuditReport r;
  r.checkpoint = rd.get<std::string>(j, "checkpoint", "");
  r.format = rd.get<std::string>(j, "format", "");
  r.architecture = rd.get<std::string>(j, "architecture", "");
  r.model_layers = rd.get<int64_t>(j, "model_layers", "");
  // Files from before the noise-aware default hold only a (fixed) rank_tol.
  r.rank_tol_mode = j.contains("rank_tol_mode") ? rd.get<std::string>(j, "rank_tol_mode", "") : "fixed";
  if (r.rank_tol_mode != "fixed" && r.rank_tol_mode != "noise") {
    throw InputError(fmt::format("{}: rank_tol_mode '{}' is neither 'fixed' nor 'noise'", where,
                                 r.rank_tol_mode));
  }
  if (r.rank_tol_mode == "fixed") {
    r.rank_tol = rd.get<double>(j, "rank_tol", "");
  } else {
    r.rounding_noise = rd.get<double>(j, "rounding_noise", "");
  }
  r.rank_tol_source = rd.get<std::string>(j, "rank_tol_source", "");
  r.energy = rd.get<double>(j, "energy", "");
  const auto& layers = rd.at(j, "layers", "");
  if (!layers.is_array()) throw InputError(fmt::format("{}: key 'layers' is not an array", where));
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& lj = layers[i];
    const std::string p = fmt::format("layers[{}].", i);
    LayerAudit l;
    l.layer = rd.get<int64_t>(lj, "layer", p);
    l.parallel = lj.contains("parallel") && rd.get<bool>(lj, "parallel", p);
    l.layout = rd.get<std::string>(lj, "layout", p);
    if (lj.contains("mixer")) l.mixer = rd.get<std::string>(lj, "mixer", p);
    l.variant = rd.get<std::string>(lj, "variant", p);
    l.audited = rd.get<bool>(lj, "audited", p);
    const auto& nom = rd.at(lj, "nominal", p);
    l.nominal.frh = rd.get<int64_t>(nom, "frh", p + "nominal.");
    l.nominal.slsd = rd.get<int64_t>(nom, "slsd", p + "nominal.");
    l.nominal.ter = rd.get<int64_t>(nom, "ter", p + "nominal.");
    if (nom.contains("frh_bound")) l.nominal.frh_bound = rd.get<std::string>(nom, "frh_bound", p);
    l.nominal.slsd_head = nom.contains("slsd_head") ? rd.get<int64_t>(nom, "slsd_head", p + "nominal.")
                                                    : l.nominal.slsd;
    const auto& mea = rd.at(lj, "measured", p);
    l.key_finite = !rd.at(mea, "slsd", p + "measured.").is_null();
    if (l.key_finite) l.measured_slsd = rd.get<int64_t>(mea, "slsd", p + "measured.");
    l.measured_slsd_head = l.measured_slsd;  // files written before slsd_head
    if (l.key_finite && mea.contains("slsd_head"))
      l.measured_slsd_head = rd.get<int64_t>(mea, "slsd_head", p + "measured.");
    l.measured_ter = rd.get<int64_t>(mea, "ter", p + "measured.");
    l.measured_ter_entropy = rd.get<double>(mea, "ter_entropy", p + "measured.");
    if (mea.contains("slsd_rank_tol") && !mea.at("slsd_rank_tol").is_null())
      l.key_rank_tol = rd.get<double>(mea, "slsd_rank_tol", p + "measured.");
    const auto& fl = rd.at(lj, "flags", p);
    l.heads_below_nominal = rd.get<int64_t>(fl, "heads_below_nominal", p + "flags.");
    l.dead_heads = rd.get<int64_t>(fl, "dead_heads", p + "flags.");
    l.nonfinite_tensors = rd.get<std::vector<std::string>>(fl, "nonfinite_tensors", p + "flags.");
    if (lj.contains("key_sigma")) l.key_sigma = rd.get<std::vector<double>>(lj, "key_sigma", p);
    const auto& heads = rd.at(lj, "heads", p);
    for (size_t c = 0; c < heads.size(); ++c) {
      const auto& hj = heads[c];
      const std::string hp = fmt::format("{}heads[{}].", p, c);
      HeadAudit h;
      h.head = rd.get<int64_t>(hj, "head", hp);
      h.kv_head = rd.get<int64_t>(hj, "kv_head", hp);
      h.qk = rd.circuit(rd.at(hj, "qk", hp), hp + "qk.");
      h.vo = rd.circuit(rd.at(hj, "vo", hp), hp + "vo.");
      if (hj.contains("qk_rope")) h.qk_rope = rd.circuit(hj.at("qk_rope"), hp + "qk_rope.");
      const auto& hf = rd.at(hj, "flags", hp);
      h.qk_below_nominal = rd.get<bool>(hf, "qk_below_nominal", hp + "flags.");
      h.vo_below_nominal = rd.get<bool>(hf, "vo_below_nominal", hp + "flags.");
      h.qk_dead = rd.get<bool>(hf, "qk_dead", hp + "flags.");
      h.vo_dead = rd.get<bool>(hf, "vo_dead", hp + "flags.");
      if (!h.finite()) ++l.nonfinite_heads;  // recounted: older files lack the flag
      l.heads.push_back(std::move(h));
    }
    if (lj.contains("indexer")) {
      const auto& ix = lj.at("indexer");
      for (size_t k = 0; k < ix.size(); ++k)
        l.indexer.push_back(rd.circuit(ix[k], fmt::format("{}indexer[{}].", p, k)));
    }
    if (lj.contains("notes")) l.notes = rd.get<std::vector<std::string>>(lj, "notes", p);
    if (lj.contains("recurrent")) {
      const auto& rj = lj.at("recurrent");
      for (const auto& [key, into] : {std::pair{"q", &l.recurrent_q}, std::pair{"k", &l.recurrent_k}}) {
        const auto& arr = rd.at(rj, key, p + "recurrent.");
        for (size_t k = 0; k < arr.size(); ++k)
          into->push_back(rd.circuit(arr[k], fmt::format("{}recurrent.{}[{}].", p, key, k)));
      }
    }
    if (lj.contains("output_groups")) {
      const auto& og = lj.at("output_groups");
      for (size_t k = 0; k < og.size(); ++k)
        l.output_groups.push_back(rd.circuit(og[k], fmt::format("{}output_groups[{}].", p, k)));
    }
    if (lj.contains("compressor")) {
      const auto& cj = lj.at("compressor");
      for (size_t k = 0; k < cj.size(); ++k)
        l.compressor.push_back(rd.circuit(cj[k], fmt::format("{}compressor[{}].", p, k)));
    }
    r.layers.push_back(std::move(l));
  }
  return r;
}

AuditReport merge_audits(const std::vector<AuditReport>& shards,
                         const std::vector<std::string>& names) {
  if (shards.empty()) throw InputError("audit merge: no shards to merge");
  auto name = [&](size_t i) { return i < names.size() ? names[i] : fmt::format("shard {}", i + 1); };
  AuditReport out = shards[0];
  out.layers.clear();
  std::map<int64_t, size_t> owner;  // layer -> shard that holds it
  for (size_t i = 0; i < shards.size(); ++i) {
    const AuditReport& s = shards[i];
    auto differs = [&](const char* what, const std::string& a, const std::string& b) {
      if (a != b) {
        throw InputError(fmt::format("{}: {} '{}' differs from {}'s '{}'", name(i), what, b,
                                     name(0), a));
      }
    };
    differs("architecture", out.architecture, s.architecture);
    differs("layer count", std::to_string(out.model_layers), std::to_string(s.model_layers));
    differs("rank tolerance", fmt::format("{} {} {}", out.rank_tol_mode, out.rank_tol, out.rounding_noise),
            fmt::format("{} {} {}", s.rank_tol_mode, s.rank_tol, s.rounding_noise));
    differs("energy level", fmt::format("{}", out.energy), fmt::format("{}", s.energy));
    for (const auto& l : s.layers) {
      auto [it, fresh] = owner.emplace(l.layer, i);
      if (!fresh && it->second != i) {  // a layer's two mixers (parallel) come in one shard
        throw InputError(fmt::format("{}: layer {} is also in {}", name(i), l.layer, name(it->second)));
      }
      out.layers.push_back(l);
    }
  }
  // Stable: a parallel mixer stays after the attention of its layer, as its shard wrote them.
  std::stable_sort(out.layers.begin(), out.layers.end(),
                   [](const LayerAudit& a, const LayerAudit& b) { return a.layer < b.layer; });
  return out;
}

}  // namespace gmha
