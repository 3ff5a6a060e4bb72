// qk_spectrum CHECKPOINT LAYER HEAD: singular values of one query head's QK circuit
// W_Q,iᵀ W_K,g (d x d, g the head's KV group) in a GQA-family checkpoint, computed from the thin
// factors as gmha audit does, and its numerical rank at a relative tolerance of 1e-6.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gmha/gmha.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: qk_spectrum CHECKPOINT LAYER HEAD\n");
    return 2;
  }
  try {
    const gmha::Checkpoint ckpt = gmha::open_checkpoint(argv[1]);
    const gmha::Layout layout = gmha::detect_layout(ckpt);
    const int layer = std::atoi(argv[2]);
    const int64_t head = std::atoll(argv[3]);
    if (layer < 0 || layer >= static_cast<int>(layout.layers.size())) {
      std::fprintf(stderr, "qk_spectrum: layer %d out of range\n", layer);
      return 2;
    }
    const gmha::LayerLayout& l = layout.layers[static_cast<size_t>(layer)];
    if (l.kind != gmha::LayoutKind::kGqa) {
      std::fprintf(stderr, "qk_spectrum: layer %d is not of the MHA/GQA family\n", layer);
      return 2;
    }
    const int64_t h = l.shape.head_dim, heads = l.shape.heads, group = heads / l.shape.kv_heads;
    if (head < 0 || head >= heads) {
      std::fprintf(stderr, "qk_spectrum: head %lld out of range\n", static_cast<long long>(head));
      return 2;
    }
    // Rows of q_proj for head i and of k_proj for its group, as [h, d] matrices.
    const Eigen::MatrixXd wq = ckpt.tensors->read_rows_d(l.q_proj, head * h, (head + 1) * h);
    const int64_t g = head / group;
    const Eigen::MatrixXd wk = ckpt.tensors->read_rows_d(l.k_proj, g * h, (g + 1) * h);
    // σ(W_Qᵀ W_K) = σ(A Bᵀ) with A = W_Qᵀ, B = W_Kᵀ (both d x h).
    const std::vector<double> s = gmha::circuit_singular_values(wq.transpose(), wk.transpose());
    int rank = 0;
    for (double v : s) rank += v > 1e-6 * s.front() ? 1 : 0;
    std::printf("layer %d head %lld: %zu singular values, rank %d\n", layer,
                static_cast<long long>(head), s.size(), rank);
    for (double v : s) std::printf("%.6e\n", v);
  } catch (const gmha::Error& e) {
    std::fprintf(stderr, "qk_spectrum: %s\n", e.what());
    return 2;
  }
  return 0;
}
