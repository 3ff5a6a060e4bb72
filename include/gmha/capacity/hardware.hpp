#pragma once
// Accelerators for the roofline and cost model (docs/capacity.md, Step-3 paper Table 4, datasheets).
#include <string>
#include <string_view>
#include <vector>

namespace gmha {

/// The precision the matmuls run at, which picks the peak a figure charges (docs/capacity.md,
/// precision). A card without the requested precision runs at the next wider one it has
/// (fp4 -> fp8 -> bf16): that is what its kernels do, and `charged_dtype` says so.
enum class ComputeDType { kBf16, kFp8, kFp4 };

std::string_view compute_dtype_name(ComputeDType d);
/// Parses bf16|fp8|fp4 or throws InputError naming --compute-dtype.
ComputeDType read_compute_dtype(std::string_view name);

struct Hardware {
  std::string name;           // e.g. "h800"
  double usd_per_hour = 0;    // price per card-hour
  double bf16_flops = 0;      // dense peak FLOP/s
  double fp8_flops = 0;       // dense peak FLOP/s; 0 when the card has no FP8
  double bandwidth = 0;       // memory bandwidth, bytes/s
  double memory_bytes = 0;    // HBM capacity, bytes (for gmha fit); 0 unknown
  double network_bandwidth = 0;  // scale-out bytes/s per card (MoE sparsity floor); 0 unknown
  std::string source;
  double fp4_flops = 0;       // dense peak FLOP/s; 0 when the card has no FP4 (last: keeps
                              // the positional initialisers of older cards valid)

  /// The precision a matmul asked to run at `d` runs at on this card (the widest fallback).
  ComputeDType charged_dtype(ComputeDType d) const;
  /// Dense peak FLOP/s at `d` (after the fallback of charged_dtype).
  double peak_flops(ComputeDType d) const;
  /// Roofline ridge at `d`: peak FLOP/s over bandwidth, in FLOP/byte.
  double ridge(ComputeDType d) const { return peak_flops(d) / bandwidth; }
  /// The Step-3 paper's charge: FP8 where the card has it, else BF16.
  double peak_flops() const { return peak_flops(ComputeDType::kFp8); }
  double ridge() const { return ridge(ComputeDType::kFp8); }
};

/// Built-in cards in display order.
std::vector<Hardware> list_hardware();
/// A built-in card or throws InputError listing the known names.
Hardware read_hardware(std::string_view name);
/// Parses "name:price=2,bf16=9.89e14,fp8=1.98e15,bw=3.35e12[,fp4=..,mem=80e9,net=4e11]".
Hardware parse_hardware_def(std::string_view spec);

}  // namespace gmha
