#pragma once
// Accelerators for the roofline and cost model (docs/capacity.md, Step-3 paper Table 4, datasheets).
#include <string>
#include <string_view>
#include <vector>

namespace gmha {

struct Hardware {
  std::string name;           // e.g. "h800"
  double usd_per_hour = 0;    // price per card-hour
  double bf16_flops = 0;      // dense peak FLOP/s
  double fp8_flops = 0;       // dense peak FLOP/s; 0 when the card has no FP8
  double bandwidth = 0;       // memory bandwidth, bytes/s
  double memory_bytes = 0;    // HBM capacity, bytes (for gmha fit); 0 unknown
  double network_bandwidth = 0;  // scale-out bytes/s per card (MoE sparsity floor); 0 unknown
  std::string source;

  /// FP8 peak where the card has it, else BF16 (what the cost model charges).
  double peak_flops() const { return fp8_flops > 0 ? fp8_flops : bf16_flops; }
  /// Roofline ridge: peak FLOP/s over bandwidth, in FLOP/byte.
  double ridge() const { return peak_flops() / bandwidth; }
};

/// Built-in cards in display order.
std::vector<Hardware> list_hardware();
/// A built-in card or throws InputError listing the known names.
Hardware read_hardware(std::string_view name);
/// Parses "name:price=2,bf16=9.89e14,fp8=1.98e15,bw=3.35e12[,mem=80e9,net=4e11]".
Hardware parse_hardware_def(std::string_view spec);

}  // namespace gmha
