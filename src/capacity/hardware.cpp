#include "gmha/capacity/hardware.hpp"

#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "gmha/core/error.hpp"
#include "gmha/core/parse.hpp"

namespace gmha {

std::string_view compute_dtype_name(ComputeDType d) {
  switch (d) {
    case ComputeDType::kBf16: return "bf16";
    case ComputeDType::kFp8: return "fp8";
    case ComputeDType::kFp4: return "fp4";
  }
  return "?";
}

ComputeDType read_compute_dtype(std::string_view name) {
  if (name == "bf16") return ComputeDType::kBf16;
  if (name == "fp8") return ComputeDType::kFp8;
  if (name == "fp4") return ComputeDType::kFp4;
  throw errors::bad_option("compute-dtype",
                           fmt::format("unknown compute dtype '{}' (known: bf16, fp8, fp4)", name));
}

ComputeDType Hardware::charged_dtype(ComputeDType d) const {
  if (d == ComputeDType::kFp4 && fp4_flops > 0) return ComputeDType::kFp4;
  if (d != ComputeDType::kBf16 && fp8_flops > 0) return ComputeDType::kFp8;
  return ComputeDType::kBf16;
}

double Hardware::peak_flops(ComputeDType d) const {
  switch (charged_dtype(d)) {
    case ComputeDType::kFp4: return fp4_flops;
    case ComputeDType::kFp8: return fp8_flops;
    case ComputeDType::kBf16: break;
  }
  return bf16_flops;
}

namespace {
// NVIDIA HGX B200 datasheet: FP4 Tensor Core 144 PFLOPS for 8 GPUs with sparsity, i.e. 18 per
// GPU sparse and 9 dense. No other built-in card has FP4 tensor cores (Hopper, Ada, Ampere,
// CDNA 3 and the Ascend 910B stop at FP8 or BF16).
Hardware with_fp4(Hardware h, double fp4) {
  h.fp4_flops = fp4;
  return h;
}
}  // namespace

std::vector<Hardware> list_hardware() {
  // Peak FLOP/s are dense (no sparsity). Prices of the first four are the Step-3 paper's Table 4
  // (docs/capacity.md); prices of the others are assumed rental rates per card-hour (override them with
  // --hardware-def). Networks: per-node scale-out bandwidth, as docs/capacity.md's sparsity example.
  return {
      // Step-3 paper Table 4; networks per its §5.4 (Table 7's sparsity floors): H800 and H20
      // 8 × 400 Gb/s, A800 and Ascend 910B 8 × 200 Gb/s.
      {"h800", 2.0, 9.89e14, 1.98e15, 3.35e12, 80e9, 400e9, "Step-3 paper Table 4 (arXiv 2507.19427)"},
      {"h20", 0.8, 1.48e14, 2.96e14, 4.00e12, 96e9, 400e9, "Step-3 paper Table 4 (arXiv 2507.19427)"},
      {"a800", 0.75, 3.12e14, 0, 2.00e12, 80e9, 200e9, "Step-3 paper Table 4 (arXiv 2507.19427)"},
      {"ascend-910b", 0.67, 2.80e14, 0, 1.60e12, 64e9, 200e9,
       "Step-3 paper Table 4 (arXiv 2507.19427)"},
      // NVIDIA H100 SXM5 datasheet: 989 TFLOPS BF16, 1979 TFLOPS FP8 dense, 3.35 TB/s, 80 GB.
      {"h100", 2.0, 9.89e14, 1.979e15, 3.35e12, 80e9, 400e9,
       "NVIDIA H100 Tensor Core GPU datasheet (SXM5); price assumed"},
      // NVIDIA H200 SXM datasheet: same compute as H100, 4.8 TB/s HBM3e, 141 GB.
      {"h200", 2.5, 9.89e14, 1.979e15, 4.8e12, 141e9, 400e9,
       "NVIDIA H200 Tensor Core GPU datasheet (SXM); price assumed"},
      // NVIDIA B200 (HGX B200 datasheet): 2.25 PFLOPS BF16, 4.5 PFLOPS FP8 dense, 8 TB/s, 180 GB.
      with_fp4({"b200", 4.0, 2.25e15, 4.5e15, 8.0e12, 180e9, 800e9,
                "NVIDIA HGX B200 datasheet (per GPU, dense); price assumed"},
               9.0e15),
      // AMD Instinct MI300X datasheet: 1307.4 TFLOPS BF16, 2614.9 TFLOPS FP8 dense, 5.3 TB/s, 192 GB.
      {"mi300x", 2.0, 1.3074e15, 2.6149e15, 5.3e12, 192e9, 400e9,
       "AMD Instinct MI300X datasheet; price assumed"},
      // NVIDIA A100 SXM 80GB datasheet: 312 TFLOPS BF16 dense, no FP8, 2.039 TB/s.
      {"a100", 1.2, 3.12e14, 0, 2.039e12, 80e9, 200e9,
       "NVIDIA A100 Tensor Core GPU datasheet (SXM 80GB); price assumed"},
      // NVIDIA L20 (Ada, 48 GB GDDR6): 119.5 TFLOPS BF16, 239 TFLOPS FP8 dense, 864 GB/s.
      {"l20", 0.5, 1.195e14, 2.39e14, 8.64e11, 48e9, 100e9,
       "NVIDIA L20 product brief; price assumed"},
  };
}

Hardware read_hardware(std::string_view name) {
  for (const auto& h : list_hardware()) {
    if (h.name == name) return h;
  }
  std::string known;
  for (const auto& h : list_hardware()) known += (known.empty() ? "" : ", ") + h.name;
  throw errors::bad_option("hardware", fmt::format("unknown card '{}' (known: {})", name, known));
}

Hardware parse_hardware_def(std::string_view spec_view) {
  const std::string spec(spec_view);
  const std::string where = "hardware definition '" + spec + "'";
  const size_t colon = spec.find(':');
  if (colon == std::string::npos || colon == 0) {
    throw InputError(where + ": expected name:price=..,bf16=..,fp8=..,bw=..");
  }
  Hardware h;
  h.name = spec.substr(0, colon);
  h.source = "--hardware-def";
  std::map<std::string, double*> fields = {{"price", &h.usd_per_hour}, {"bf16", &h.bf16_flops},
                                           {"fp8", &h.fp8_flops},      {"fp4", &h.fp4_flops},
                                           {"bw", &h.bandwidth},
                                           {"mem", &h.memory_bytes},   {"net", &h.network_bandwidth}};
  std::map<std::string, bool> seen;
  for (std::string_view item_view : split_list(std::string_view(spec).substr(colon + 1), where)) {
    const std::string item(item_view);
    size_t eq = item.find('=');
    if (eq == std::string::npos) throw InputError(fmt::format("{}: '{}' is not key=value", where, item));
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    auto it = fields.find(key);
    if (it == fields.end()) {
      throw InputError(fmt::format("{}: unknown key '{}' (price, bf16, fp8, fp4, bw, mem, net)", where, key));
    }
    // Amounts with SI/IEC units: bf16=989e12, bw=3.35T, mem=80GB, mem=141GiB.
    *it->second = parse_amount(val, fmt::format("{}: {}", where, key), AmountKind::kCount);
    seen[key] = true;
  }
  for (const char* k : {"price", "bw"}) {
    if (!seen[k]) throw InputError(fmt::format("{}: missing key '{}'", where, k));
  }
  if (h.bf16_flops <= 0 && h.fp8_flops <= 0) {
    throw InputError(fmt::format("{}: give bf16= or fp8= peak FLOP/s", where));
  }
  if (h.fp4_flops > 0 && h.fp8_flops <= 0) {
    throw InputError(fmt::format("{}: fp4= needs fp8= too (a card with FP4 has FP8)", where));
  }
  if (h.bandwidth <= 0) throw InputError(fmt::format("{}: bw must be positive", where));
  if (h.bf16_flops <= 0) h.bf16_flops = h.fp8_flops;
  return h;
}

}  // namespace gmha
