#include "gmha/checkpoint/tensor_source.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "decode_rows.hpp"  // internal, beside this file
#include "gmha/core/checked.hpp"
#include "gmha/core/error.hpp"

namespace gmha {

int64_t TensorInfo::rows() const { return shape.empty() ? 1 : shape[0]; }

int64_t TensorInfo::cols() const {
  int64_t c = 1;
  for (size_t i = 1; i < shape.size(); ++i) c = checked_mul(c, shape[i], "tensor row length");
  return c;
}

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t s : shape) n = checked_mul(n, s, "tensor element count");
  return n;
}

void TensorSource::index_tensors() {
  index_.clear();
  const auto& list = tensors();
  index_.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) index_.emplace(list[i].name, i);
}

const TensorInfo* TensorSource::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors()[it->second];
}

const TensorInfo& TensorSource::info(std::string_view name) const {
  if (const TensorInfo* t = find(name)) return *t;
  throw InputError(fmt::format("{}: no tensor '{}'", where(), name));
}

MatrixF TensorSource::read_matrix_f(std::string_view name) const {
  const TensorInfo& t = info(name);
  MatrixF m(t.rows(), t.cols());
  read_rows(name, 0, t.rows(), std::span<float>(m.data(), static_cast<size_t>(m.size())));
  return m;
}

MatrixD TensorSource::read_matrix_d(std::string_view name) const {
  return read_rows_d(name, 0, info(name).rows());
}

MatrixD TensorSource::read_rows_d(std::string_view name, int64_t begin, int64_t end) const {
  const TensorInfo& t = info(name);
  if (begin < 0 || end < begin || end > t.rows())
    throw InputError(fmt::format("{}: tensor '{}': rows {}..{} outside 0..{}", where(), name,
                                 begin, end, t.rows()));
  MatrixD m(end - begin, t.cols());
  read_rows(name, begin, end, std::span<double>(m.data(), static_cast<size_t>(m.size())));
  return m;
}

namespace detail {

void check_read(const TensorInfo& t, int64_t begin, int64_t end, size_t out_size,
                const std::string& where) {
  if (!t.convertible)
    throw InputError(fmt::format("{}: tensor '{}': type {} is not supported for conversion", where,
                                 t.name, t.dtype));
  if (begin < 0 || end < begin || end > t.rows())
    throw InputError(fmt::format("{}: tensor '{}': rows {}..{} outside 0..{}", where, t.name,
                                 begin, end, t.rows()));
  const int64_t need = checked_mul(end - begin, t.cols(), "read size");
  if (static_cast<uint64_t>(need) != out_size)
    throw InputError(fmt::format("{}: tensor '{}': output holds {} values, rows {}..{} need {}",
                                 where, t.name, out_size, begin, end, need));
}

}  // namespace detail
}  // namespace gmha
