#pragma once
// Overflow-checked 64-bit integer arithmetic for sizes, counts and FLOPs. Every product of user
// supplied sizes goes through these: an overflow is an InputError naming what overflowed, never a
// wrapped number.
#include <cstdint>
#include <initializer_list>
#include <string>

#include "gmha/core/error.hpp"

namespace gmha {

/// a * b, or throws errors::overflow(what) when it does not fit in int64.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw errors::overflow("size", what);
  return r;
}

/// a + b, or throws errors::overflow(what).
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw errors::overflow("size", what);
  return r;
}

/// Product of all factors, checked.
inline int64_t checked_product(std::initializer_list<int64_t> factors, const char* what) {
  int64_t r = 1;
  for (int64_t f : factors) r = checked_mul(r, f, what);
  return r;
}

/// Unsigned variants for byte sizes read from files.
inline uint64_t checked_mul_u64(uint64_t a, uint64_t b, const char* what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw errors::overflow("size", what);
  return r;
}
inline uint64_t checked_add_u64(uint64_t a, uint64_t b, const char* what) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw errors::overflow("size", what);
  return r;
}

}  // namespace gmha
