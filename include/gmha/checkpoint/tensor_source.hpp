#pragma once
// A source of named tensors: what every checkpoint reader offers, and what the audit and the
// kernels consume. Tensors are listed with their storage type and shape, and converted one tensor,
// or one range of rows, at a time to float or double; nothing is loaded until asked for.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <Eigen/Core>

namespace gmha {

/// Row-major matrices in the [out, in] orientation of a Hugging Face Linear weight.
using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One tensor as listed by a source.
struct TensorInfo {
  std::string name;            // name in this source (HF convention for an open_checkpoint source)
  std::string stored_name;     // name inside the file (GGUF "blk.0.attn_q.weight", ...)
  std::string dtype;           // the file's type name: "BF16", "F8_E4M3", "F32", "Q8_0", "Q4_K", ...
  bool convertible = false;    // read_rows can convert it (false: I8/U8/I32/I64/BOOL, most GGUF quants)
  std::vector<int64_t> shape;  // torch order, [out, in] for matrices (GGUF's ne reversed)
  uint64_t bytes = 0;          // stored bytes
  std::string file;            // path of the file (shard) that holds the data
  uint64_t offset = 0;         // absolute byte offset of the data in `file`
  std::string scale;           // block-scale tensor applied on conversion (fp8 releases), or empty
  // A tensor assembled from several stored ones (safetensors MXFP4 / NVFP4 / GPTQ / AWQ /
  // compressed-tensors): the stored tensors it is decoded from, which are not listed themselves;
  // `bytes` is then their total. Empty for a tensor stored as one.
  std::vector<std::string> parts;

  /// shape[0] (1 for a scalar): the unit of read_rows.
  int64_t rows() const;
  /// Elements per row: the product of shape[1:] (1 for vectors and scalars).
  int64_t cols() const;
  /// Product of the shape (checked; 1 for a scalar).
  int64_t elements() const;
};

class TensorSource {
 public:
  TensorSource() = default;
  TensorSource(const TensorSource&) = delete;  // the name index points into the list
  TensorSource& operator=(const TensorSource&) = delete;
  virtual ~TensorSource() = default;
  /// "safetensors", "gguf" or "llama2c".
  virtual std::string_view format() const = 0;
  /// Every tensor, in the order of the file (shards in index order).
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  /// Converts rows [begin, end) of `name` into `out` (row-major, (end-begin)*cols() values).
  /// Throws InputError for an unknown name, a range outside the tensor, a wrong `out` size, or a
  /// type that is not supported for conversion.
  virtual void read_rows(std::string_view name, int64_t begin, int64_t end,
                         std::span<float> out) const = 0;
  /// As above, into doubles (the same exact values; float64 only matters for F64 tensors).
  virtual void read_rows(std::string_view name, int64_t begin, int64_t end,
                         std::span<double> out) const = 0;

  /// The tensor named `name`, or nullptr.
  const TensorInfo* find(std::string_view name) const;
  /// The tensor named `name`; throws InputError "<source>: no tensor '<name>'" when absent.
  const TensorInfo& info(std::string_view name) const;
  /// Whole tensor as a [rows, cols] float matrix (a vector is [n, 1]).
  MatrixF read_matrix_f(std::string_view name) const;
  /// Whole tensor as a [rows, cols] double matrix.
  MatrixD read_matrix_d(std::string_view name) const;
  /// Rows [begin, end) as a [end-begin, cols] double matrix.
  MatrixD read_rows_d(std::string_view name, int64_t begin, int64_t end) const;
  /// A label for errors: the path that was opened.
  virtual const std::string& where() const = 0;

 protected:
  /// Builds the name index used by find(); readers call it once their list is complete.
  void index_tensors();

 private:
  std::unordered_map<std::string_view, size_t> index_;  // views into tensors()' names
};

}  // namespace gmha
