#pragma once
// Ad-hoc designs on the command line, and the reverse: every model that is a plain design prints
// the spec string that reproduces it, so any output row can be fed back.
//   gqa:d=4096,heads=32,kv=8,hd=128,layers=32
//   mla:d=7168,heads=128,c=512,qlora=1536,nope=128,rope=64,v=128,layers=61
//   mfa:d=7168,heads=64,c=256,cq=2048,layers=61      mfa-kr:d=7168,heads=64,c=256,cq=2048
//   mha:d=4096,heads=32   mqa:d=4096,heads=32   fpba:d=64   linear:d=6144,heads=64,hd=128
// The 2025 designs (docs/designs.md):
//   gta:d=2048,heads=16,kv=4,hd=128,rope=64          gla:d=2048,heads=16,hc=2,c=256,nope=128,rope=64,v=128
//   tpa:d=2048,heads=16,hd=128,rq=6,rk=2,rv=2[,noncontextual=1]
//   mtla:d=2048,heads=16,c=256,nope=64,rope=32,v=64,stride=2
// Optional: layers= (default 1), window=, chunk=, kv_dtype=, ffn=I (dense GLU), experts=E/k,
// expert_ffn=I, shared=S, shared_ffn=I, vocab=V, bias=1, qk_norm=1. Modifiers of softmax designs
// (docs/designs.md): topk=k,index_heads=,index_dim= (DSA), nsa=l/d/n/l'/w, moba=B/k,
// compress=s[,window=w][,topk=...] (CSA/HCA), share=s, kv_tied=1, sinks=1, gate=head|elem.
// Recurrent designs (docs/designs.md, "Recurrent designs"), with state_dtype= (default f32) and
// conv_dtype= (default bf16) and the FFN keys, layers=, vocab=:
//   gdn:d=2048,heads=32,kh=16,hd=128,dv=128,conv=4   kda:d=2304,heads=32,hd=128,conv=4
//   mamba2:d=4480,heads=128,hd=80,state=128,groups=8,conv=4
#include <optional>
#include <string>
#include <string_view>

#include "gmha/attention/model.hpp"

namespace gmha {

/// Parses a --design string. Throws InputError naming the key when malformed or impossible.
ModelDesign parse_design_spec(std::string_view spec);

/// The canonical spec string for a single-group model; empty when the model is a hybrid.
std::string design_spec_of(const ModelDesign& m);

/// The recurrent mixer a design name (gdn, kda, mamba2) stands for; nullopt for any other name.
std::optional<RecurrentKind> recurrent_design_kind(std::string_view name);
/// True for every name a --design may start with: the variants and the recurrent designs.
bool is_design_name(std::string_view name);
/// Parses a gdn: / kda: / mamba2: spec (parse_design_spec dispatches here).
ModelDesign parse_recurrent_design(const std::string& spec, RecurrentKind kind);
/// The canonical gdn: / kda: / mamba2: string of a one-group recurrent model; empty when the
/// grammar cannot reproduce its layer exactly.
std::string recurrent_spec_of(const ModelDesign& m);

}  // namespace gmha
