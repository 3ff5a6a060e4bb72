#include "gmha/attention/variant.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

std::string_view variant_name(Variant v) {
  switch (v) {
    case Variant::kFpba: return "fpba";
    case Variant::kMha: return "mha";
    case Variant::kMqa: return "mqa";
    case Variant::kGqa: return "gqa";
    case Variant::kMla: return "mla";
    case Variant::kMfa: return "mfa";
    case Variant::kMfaKr: return "mfa-kr";
    case Variant::kLinear: return "linear";
    case Variant::kGta: return "gta";
    case Variant::kGla: return "gla";
    case Variant::kTpa: return "tpa";
    case Variant::kMtla: return "mtla";
  }
  return "?";
}

std::string_view variant_label(Variant v) {
  switch (v) {
    case Variant::kFpba: return "FPBA";
    case Variant::kMha: return "MHA";
    case Variant::kMqa: return "MQA";
    case Variant::kGqa: return "GQA";
    case Variant::kMla: return "MLA";
    case Variant::kMfa: return "MFA";
    case Variant::kMfaKr: return "MFA-KR";
    case Variant::kLinear: return "Linear";
    case Variant::kGta: return "GTA";
    case Variant::kGla: return "GLA";
    case Variant::kTpa: return "TPA";
    case Variant::kMtla: return "MTLA";
  }
  return "?";
}

std::string_view recurrent_name(RecurrentKind k) {
  switch (k) {
    case RecurrentKind::kLightning: return "Lightning";
    case RecurrentKind::kGatedDeltaNet: return "GatedDeltaNet";
    case RecurrentKind::kKda: return "KDA";
    case RecurrentKind::kMamba2: return "Mamba2";
    case RecurrentKind::kShortConv: return "ShortConv";
    case RecurrentKind::kMamba: return "Mamba";
  }
  return "?";
}

std::optional<Variant> find_variant(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  std::replace(n.begin(), n.end(), '_', '-');
  if (n == "fpba") return Variant::kFpba;
  if (n == "mha") return Variant::kMha;
  if (n == "mqa") return Variant::kMqa;
  if (n == "gqa") return Variant::kGqa;
  if (n == "mla") return Variant::kMla;
  if (n == "mfa") return Variant::kMfa;
  if (n == "mfa-kr" || n == "mfakr") return Variant::kMfaKr;
  if (n == "linear" || n == "lightning") return Variant::kLinear;
  if (n == "gta") return Variant::kGta;
  if (n == "gla") return Variant::kGla;
  if (n == "tpa") return Variant::kTpa;
  if (n == "mtla") return Variant::kMtla;
  return std::nullopt;
}

int64_t gta_default_rope_dim(int64_t head_dim) { return (head_dim / 2) / 2 * 2; }

namespace {
void require_positive(int64_t v, const std::string& where, const char* field) {
  if (v <= 0) throw errors::not_positive(where, field, v);
}

void require_even_rope(int64_t rope, const std::string& where) {
  if (rope < 0) throw errors::not_positive(where, "qk_rope_head_dim (rope)", rope);
  if (rope % 2 != 0) {
    throw InputError(fmt::format("{}: qk_rope_head_dim (rope) = {} is odd; rotary dimensions come in pairs",
                                 where, rope));
  }
}

// Shapes of the recurrent mixers other than lightning (docs/capacity.md, "Recurrent mixers").
void validate_recurrent(const AttentionShape& s, const std::string& where) {
  require_positive(s.conv_kernel, where, "conv kernel");
  if (s.recurrent == RecurrentKind::kShortConv) {
    require_positive(s.inner, where, "conv width");
    return;
  }
  require_positive(s.heads, where, "heads");
  require_positive(s.head_dim, where, "d_k (head_dim)");
  require_positive(s.state_value_dim, where, "d_v (state width)");
  if (s.recurrent == RecurrentKind::kGatedDeltaNet || s.recurrent == RecurrentKind::kMamba2) {
    require_positive(s.key_heads, where, s.recurrent == RecurrentKind::kMamba2 ? "n_groups" : "key heads");
    if (s.heads % s.key_heads != 0) {
      throw InputError(fmt::format("{}: heads ({}) must be divisible by {} ({})", where, s.heads,
                                   s.recurrent == RecurrentKind::kMamba2 ? "n_groups" : "key heads",
                                   s.key_heads));
    }
  }
  if (s.recurrent == RecurrentKind::kMamba) {
    // Mamba-1: one channel per "head" of width 1, one shared B (docs/capacity.md).
    require_positive(s.dt_rank, where, "dt_rank");
    if (s.head_dim != 1 || s.key_heads != 1 || s.inner != s.heads) {
      throw InputError(fmt::format("{}: a Mamba-1 layer has I channels of width 1 and one B "
                                   "(heads = inner = I, head_dim 1, key heads 1)", where));
    }
  }
  if (s.recurrent == RecurrentKind::kMamba2 && s.inner != checked_mul(s.heads, s.head_dim, "mamba")) {
    throw InputError(fmt::format("{}: mamba intermediate width {} is not heads x head_dim ({} x {})",
                                 where, s.inner, s.heads, s.head_dim));
  }
}
}  // namespace

void validate_shape(const AttentionShape& s, const std::string& where) {
  require_positive(s.d_model, where, "d (hidden_size)");
  switch (s.variant) {
    case Variant::kFpba:
      // FPBA is the bound, defined for small d: d heads of width d.
      if (s.heads != s.d_model || s.head_dim != s.d_model || s.kv_heads != s.d_model) {
        throw InputError(fmt::format("{}: fpba must have heads = kv_heads = head_dim = d", where));
      }
      checked_product({s.d_model, s.d_model, s.d_model, 2}, "fpba parameters (2d^3)");
      break;
    case Variant::kLinear:
      if (s.recurrent != RecurrentKind::kLightning) {
        validate_recurrent(s, where);
        break;
      }
      [[fallthrough]];
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      require_positive(s.heads, where, "heads");
      require_positive(s.kv_heads, where, "kv_heads");
      require_positive(s.head_dim, where, "head_dim");
      if (s.heads % s.kv_heads != 0) {
        throw InputError(fmt::format("{}: heads ({}) must be divisible by kv_heads ({})", where,
                                     s.heads, s.kv_heads));
      }
      if (s.variant == Variant::kMha && s.kv_heads != s.heads) {
        throw InputError(fmt::format("{}: mha needs kv_heads = heads ({} != {})", where, s.kv_heads,
                                     s.heads));
      }
      if (s.variant == Variant::kMqa && s.kv_heads != 1) {
        throw InputError(fmt::format("{}: mqa needs kv_heads = 1 (got {})", where, s.kv_heads));
      }
      if (s.variant == Variant::kLinear) require_positive(s.state_value_dim, where, "state d_v");
      if (s.v_head_dim < 0) throw errors::not_positive(where, "v_head_dim", s.v_head_dim);
      if (s.kv_tied && s.v_head_dim > 0 && s.v_head_dim != s.head_dim) {
        throw InputError(fmt::format("{}: K = V tying needs equal K and V head widths", where));
      }
      if (s.kv_latent && !s.kv_tied) {
        throw InputError(fmt::format("{}: a K = V latent (kv_latent) is tied (kv_tied)", where));
      }
      if ((s.o_lora_rank > 0) != (s.o_groups > 0) || s.o_lora_rank < 0 || s.o_groups < 0) {
        throw InputError(fmt::format("{}: o_lora_rank ({}) and o_groups ({}) go together", where,
                                     s.o_lora_rank, s.o_groups));
      }
      if (s.o_groups > 0 && s.heads % s.o_groups != 0) {
        throw InputError(fmt::format("{}: heads ({}) must be divisible by o_groups ({})", where,
                                     s.heads, s.o_groups));
      }
      if (s.q_lora_rank < 0) throw errors::not_positive(where, "q_lora_rank", s.q_lora_rank);
      break;
    case Variant::kGta:
      require_positive(s.heads, where, "heads (h_q)");
      require_positive(s.kv_heads, where, "kv_heads (h_kv)");
      require_positive(s.head_dim, where, "head_dim (d_h)");
      if (s.heads % s.kv_heads != 0) {
        throw InputError(fmt::format("{}: heads ({}) must be divisible by kv_heads ({})", where,
                                     s.heads, s.kv_heads));
      }
      require_even_rope(s.qk_rope_dim, where);
      if (s.qk_rope_dim >= s.head_dim) {
        // K keeps the state's first d_h - d_R dims; with none left the state would not be a key.
        throw InputError(fmt::format("{}: gta rope ({}) must be below hd ({}): the key reads the "
                                     "tied state's first hd - rope dims", where, s.qk_rope_dim, s.head_dim));
      }
      break;
    case Variant::kTpa:
      require_positive(s.heads, where, "heads (h)");
      require_positive(s.head_dim, where, "head_dim (d_h)");
      require_positive(s.tpa_rank_q, where, "rq (R_Q)");
      require_positive(s.tpa_rank_k, where, "rk (R_K)");
      require_positive(s.tpa_rank_v, where, "rv (R_V)");
      break;
    case Variant::kMla:
    case Variant::kGla:
    case Variant::kMtla:
      require_positive(s.heads, where, "heads");
      require_positive(s.kv_lora_rank, where, "kv_lora_rank (c)");
      require_positive(s.qk_nope_dim, where, "qk_nope_head_dim (nope)");
      require_positive(s.v_head_dim, where, "v_head_dim (v)");
      require_even_rope(s.qk_rope_dim, where);
      if (s.q_lora_rank < 0) throw errors::not_positive(where, "q_lora_rank (qlora)", s.q_lora_rank);
      if (s.variant == Variant::kGla) {
        // h_c latent heads, each read by heads / h_c query heads (docs/designs.md).
        require_positive(s.kv_heads, where, "hc (latent heads)");
        if (s.heads % s.kv_heads != 0) {
          throw InputError(fmt::format("{}: heads ({}) must be divisible by hc ({})", where, s.heads,
                                       s.kv_heads));
        }
      } else if (s.kv_heads != 1) {
        throw InputError(fmt::format("{}: {} caches one shared stream (kv_heads must be 1)", where,
                                     variant_name(s.variant)));
      }
      if (s.variant == Variant::kMtla) {
        require_positive(s.temporal_stride, where, "stride (s)");
        // The merge hyper-network projects the latent to d_c / 4 (MTLA.py low_rank = 4).
        if (s.kv_lora_rank < 4) {
          throw InputError(fmt::format("{}: mtla needs c >= 4 (its hyper-network is c x c/4; got {})",
                                       where, s.kv_lora_rank));
        }
      }
      break;
    case Variant::kMfa:
    case Variant::kMfaKr:
      require_positive(s.heads, where, "heads");
      require_positive(s.head_dim, where, "c (head_dim)");
      require_positive(s.q_share_dim, where, "cq (share_q_dim)");
      if (s.kv_heads != 1) {
        throw InputError(fmt::format("{}: mfa caches one shared K/V head (kv_heads must be 1)", where));
      }
      break;
  }
  // Every weight and cache product must fit: evaluating them throws on overflow.
  checked_product({s.heads, s.head_dim > 0 ? s.head_dim : 1, s.d_model, 4}, "attention weights");
}

CapacityRanks capacity_ranks(const AttentionShape& s) {
  CapacityRanks r;
  switch (s.variant) {
    case Variant::kFpba:
      r.frh = s.d_model;
      r.vo_rank = s.d_model;
      r.slsd = s.d_model;
      r.slsd_head = s.d_model;
      r.frh_bound = "d";
      break;
    case Variant::kMha:
    case Variant::kMqa:
    case Variant::kGqa:
      r.frh = s.head_dim;
      // VO circuit W_V,grp (v x d) with o_proj's head block (d x v): rank <= v.
      r.vo_rank = s.v_head_dim > 0 ? s.v_head_dim : s.head_dim;
      r.slsd = checked_mul(s.kv_heads, s.head_dim, "slsd");
      r.slsd_head = s.head_dim;
      r.frh_bound = "h";
      if (s.kv_latent && s.rotary_dim > 0 && s.rotary_dim < s.head_dim) {
        // DeepSeek-V4's K = V latent rotates its last d_R dims: the position-free circuit is the
        // first d_h - d_R (as GTA's and MLA's nope part; the RoPE part adds rank <= d_R apart).
        r.frh = s.head_dim - s.rotary_dim;
        r.frh_bound = "d_h - d_R";
        r.slsd = checked_mul(s.kv_heads, r.frh, "slsd");
        r.slsd_head = r.frh;
      }
      if (s.q_lora_rank > 0 && s.q_lora_rank < r.frh) { r.frh = s.q_lora_rank; r.frh_bound = "q_lora"; }
      if (s.o_lora_rank > 0) {
        // Head i's VO map passes through its group's o_lora_rank bottleneck.
        r.vo_rank = std::min(r.vo_rank, s.o_lora_rank);
        const int64_t group_width = checked_mul(s.heads / s.o_groups, s.v_head_dim > 0 ? s.v_head_dim : s.head_dim, "vo");
        r.vo_group_rank = std::min({s.o_lora_rank, group_width, s.d_model});
      }
      break;
    case Variant::kGta:
      // The position-free part of head i's key is the first d_h - d_R dims of its group's tied
      // state (the last d_R come from the shared RoPE key): rank <= d_h - d_R, as MLA's nope
      // circuit excludes its RoPE dims. V is the whole state: VO rank <= d_h.
      r.frh = s.head_dim - s.qk_rope_dim;
      r.frh_bound = "d_h - d_R";
      r.slsd = checked_mul(s.kv_heads, r.frh, "slsd");
      r.slsd_head = r.frh;
      r.vo_rank = s.head_dim;
      break;
    case Variant::kTpa:
      // Non-contextual TPA is bilinear: W_K,i = sum_r a_ri W_bK,r (d_h x d), so FRH <= d_h and the
      // keys of all heads lie in the span of the R_K * d_h rows of W_bK. Contextual TPA makes a_r
      // depend on x: the score is quadratic in x and outside GMHA; these are then its bounds.
      r.frh = s.head_dim;
      r.frh_bound = "d_h";
      r.slsd = checked_mul(s.tpa_rank_k, s.head_dim, "slsd");
      r.slsd_head = s.head_dim;
      r.vo_rank = s.head_dim;
      r.bilinear = s.tpa_noncontextual;
      break;
    case Variant::kMla:
    case Variant::kGla:
    case Variant::kMtla:
      // Nope circuit: rank bounded by h_nope (and C, q_lora when smaller; docs/capacity.md).
      r.frh = s.qk_nope_dim;
      r.frh_bound = "h_nope";
      if (s.kv_lora_rank < r.frh) { r.frh = s.kv_lora_rank; r.frh_bound = "C"; }
      if (s.q_lora_rank > 0 && s.q_lora_rank < r.frh) { r.frh = s.q_lora_rank; r.frh_bound = "q_lora"; }
      // GLA: the layer caches h_c latents of d_c (SLSD_layer h_c * d_c); a head reads only its
      // group's d_c (SLSD_head). MLA and MTLA have one latent (h_c = 1): both are C.
      r.slsd = checked_mul(s.variant == Variant::kGla ? s.kv_heads : 1, s.kv_lora_rank, "slsd");
      r.slsd_head = s.kv_lora_rank;
      // VO circuit: W_UV,i (v x C) composed with o_proj's head block: rank <= min(v, C).
      r.vo_rank = std::min(s.v_head_dim, s.kv_lora_rank);
      break;
    case Variant::kMfa:
    case Variant::kMfaKr:
      // C_q = 0 (a layout read without the shared query width) leaves C as the bound.
      r.frh = s.q_share_dim > 0 ? std::min(s.head_dim, s.q_share_dim) : s.head_dim;
      r.frh_bound = s.q_share_dim > 0 && s.q_share_dim < s.head_dim ? "C_q" : "C";
      r.vo_rank = s.head_dim;
      r.slsd = s.head_dim;
      r.slsd_head = s.head_dim;
      break;
    case Variant::kLinear:
      return r;
  }
  r.ter = checked_mul(s.heads, r.frh, "ter");
  return r;
}

std::optional<CapacityRanks> softmax_ranks(const AttentionShape& s) {
  if (s.variant == Variant::kLinear) return std::nullopt;
  return capacity_ranks(s);
}

RecurrentCapacity recurrent_capacity(const AttentionShape& s) {
  if (s.variant != Variant::kLinear || s.recurrent == RecurrentKind::kShortConv) return {};
  // Every state-owning head keeps a d_k x d_v matrix written by rank-1 updates k v^T. The keys
  // span at most (key heads) x d_k directions: GDN's k heads are shared by groups of value heads;
  // Mamba2's key is B (d_state wide), shared by the heads of one of n_groups groups.
  const int64_t state = checked_product({s.heads, s.head_dim, s.state_value_dim}, "state capacity");
  if (s.recurrent == RecurrentKind::kMamba2 || s.recurrent == RecurrentKind::kMamba) {
    return {state, checked_mul(s.key_heads, s.state_value_dim, "key rank bound")};
  }
  const int64_t key_heads = s.recurrent == RecurrentKind::kGatedDeltaNet ? s.key_heads : s.heads;
  return {state, checked_mul(key_heads, s.head_dim, "key rank bound")};
}

}  // namespace gmha
