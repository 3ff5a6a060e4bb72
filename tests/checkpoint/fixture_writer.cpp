#include "checkpoint/fixture_writer.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "gmha/checkpoint/element_decode.hpp"

namespace gmha::test {

std::string f32_bytes(const std::vector<float>& v) {
  std::string s;
  for (float x : v) put(s, x);
  return s;
}
std::string f64_bytes(const std::vector<double>& v) {
  std::string s;
  for (double x : v) put(s, x);
  return s;
}
std::string f16_bytes(const std::vector<float>& v) {
  std::string s;
  for (float x : v) put(s, static_cast<_Float16>(x));
  return s;
}
std::string bf16_bytes(const std::vector<float>& v) {
  std::string s;
  for (float x : v) put(s, float_to_bf16(x));
  return s;
}
std::vector<float> ramp(int n, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = 0.25f * static_cast<float>(i - n / 2) + offset;
  return v;
}

std::string safetensors_bytes(const std::vector<RawTensor>& tensors,
                              const nlohmann::json& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::string data;
  for (const auto& t : tensors) {
    h[t.name] = {{"dtype", t.dtype},
                 {"shape", t.shape},
                 {"data_offsets", {data.size(), data.size() + t.data.size()}}};
    data += t.data;
  }
  return safetensors_raw(h.dump(), data);
}

std::string safetensors_raw(const std::string& header, const std::string& data) {
  std::string s;
  put<uint64_t>(s, header.size());
  return s + header + data;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static std::string gguf_string(const std::string& v) {
  std::string s;
  put<uint64_t>(s, v.size());
  return s + v;
}

void GgufBuilder::add_u32(const std::string& key, uint32_t v) {
  std::string p;
  put(p, v);
  kvs_.push_back({key, 4, p});
}
void GgufBuilder::add_u64(const std::string& key, uint64_t v) {
  std::string p;
  put(p, v);
  kvs_.push_back({key, 10, p});
}
void GgufBuilder::add_f32(const std::string& key, float v) {
  std::string p;
  put(p, v);
  kvs_.push_back({key, 6, p});
}
void GgufBuilder::add_string(const std::string& key, const std::string& v) {
  kvs_.push_back({key, 8, gguf_string(v)});
}
void GgufBuilder::add_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::string p;
  put<uint32_t>(p, 8);
  put<uint64_t>(p, v.size());
  for (const auto& x : v) p += gguf_string(x);
  kvs_.push_back({key, 9, p});
}
void GgufBuilder::add_raw(const std::string& key, uint32_t type, const std::string& payload) {
  kvs_.push_back({key, type, payload});
}
void GgufBuilder::add_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                             std::string data) {
  tensors_.push_back({name, std::move(ne), type, std::move(data)});
}

std::string GgufBuilder::bytes(uint32_t version, uint64_t alignment) const {
  std::string s = "GGUF";
  put(s, version);
  put<uint64_t>(s, tensors_.size());
  put<uint64_t>(s, kvs_.size());
  for (const auto& kv : kvs_) {
    s += gguf_string(kv.key);
    put(s, kv.type);
    s += kv.payload;
  }
  uint64_t offset = 0;
  std::string data;
  for (const auto& t : tensors_) {
    s += gguf_string(t.name);
    put<uint32_t>(s, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) put(s, n);
    put(s, t.type);
    put(s, offset);
    data += t.data;
    while (data.size() % alignment) data.push_back('\0');
    offset = data.size();
  }
  while (s.size() % alignment) s.push_back('\0');
  return s + data;
}

std::string q8_0_bytes(const std::vector<float>& values, const std::vector<float>& scales) {
  std::string s;
  for (size_t b = 0; b * 32 < values.size(); ++b) {
    put(s, static_cast<_Float16>(scales[b]));
    for (size_t j = 0; j < 32; ++j)
      put(s, static_cast<int8_t>(values[b * 32 + j] / scales[b]));
  }
  return s;
}

float llama2c_value(int k, int64_t i) {
  // Small integers times 1/64: exact in float and exactly representable as int8 * (1/64), so
  // the Q8_0 export (scale = max/127) is the only rounding in version 2.
  return static_cast<float>(((k * 7 + i * 13) % 31) - 15) / 64.0f;
}

std::string llama2c_bytes(const Llama2cSpec& p) {
  const int64_t hd = p.dim / p.heads, q = p.heads * hd, kv = p.kv_heads * hd;
  std::string s;
  auto header7 = [&](int vocab_sign) {
    for (int v : {p.dim, p.hidden, p.layers, p.heads, p.kv_heads, p.vocab * vocab_sign, p.seq_len})
      put<int32_t>(s, v);
  };
  int k = 0;  // tensor counter, llama2.c order
  auto fp32 = [&](int64_t n) {
    for (int64_t i = 0; i < n; ++i) put(s, llama2c_value(k, i));
    ++k;
  };
  auto q80 = [&](int64_t n) {
    std::vector<float> scales;
    std::vector<int8_t> qs;
    for (int64_t g0 = 0; g0 < n; g0 += p.group) {
      float m = 0;
      for (int64_t i = g0; i < g0 + p.group; ++i) m = std::max(m, std::abs(llama2c_value(k, i)));
      const float sc = m / 127.0f;
      scales.push_back(sc);
      for (int64_t i = g0; i < g0 + p.group; ++i)
        qs.push_back(static_cast<int8_t>(sc == 0 ? 0 : std::lround(llama2c_value(k, i) / sc)));
    }
    for (int8_t v : qs) put(s, v);
    for (float v : scales) put(s, v);
    ++k;
  };
  const int64_t L = p.layers, d = p.dim, f = p.hidden;
  if (p.version == 0) {
    header7(p.shared_classifier ? 1 : -1);
    fp32(p.vocab * d);
    for (int64_t l = 0; l < L; ++l) fp32(d);
    for (int64_t l = 0; l < L; ++l) fp32(q * d);
    for (int64_t l = 0; l < L; ++l) fp32(kv * d);
    for (int64_t l = 0; l < L; ++l) fp32(kv * d);
    for (int64_t l = 0; l < L; ++l) fp32(d * q);
    for (int64_t l = 0; l < L; ++l) fp32(d);
    for (int64_t l = 0; l < L; ++l) fp32(f * d);
    for (int64_t l = 0; l < L; ++l) fp32(d * f);
    for (int64_t l = 0; l < L; ++l) fp32(f * d);
    fp32(d);
    fp32(p.seq_len * hd / 2);
    fp32(p.seq_len * hd / 2);
    if (!p.shared_classifier) fp32(p.vocab * d);
    return s;
  }
  put<uint32_t>(s, 0x616b3432);
  put<int32_t>(s, p.version);
  header7(1);
  put<uint8_t>(s, p.shared_classifier ? 1 : 0);
  if (p.version == 2) put<int32_t>(s, p.group);
  s.resize(256, '\0');
  for (int64_t l = 0; l < L; ++l) fp32(d);
  for (int64_t l = 0; l < L; ++l) fp32(d);
  fp32(d);
  auto w = [&](int64_t n) { p.version == 2 ? q80(n) : fp32(n); };
  w(p.vocab * d);
  for (int64_t n : {q * d, kv * d, kv * d, d * q, f * d, d * f, f * d})
    for (int64_t l = 0; l < L; ++l) w(n);
  if (!p.shared_classifier) w(p.vocab * d);
  return s;
}

}  // namespace gmha::test
