# Sources of the attention area (explicit list, no globs).
list(APPEND GMHA_LIB_SOURCES
  src/attention/variant.cpp
  src/attention/weights.cpp
  src/attention/model.cpp
  src/attention/design_spec.cpp
  src/attention/presets.cpp
  src/attention/hf_config.cpp
  src/attention/hf_families.cpp
  src/attention/hf_families_more.cpp
  src/attention/hf_families_2026.cpp
  src/attention/hf_families_hybrid.cpp
  src/attention/hf_granite.cpp
  src/attention/hf_falcon_h1.cpp
  src/attention/hf_deepseek_v4.cpp
  src/attention/hf_vision.cpp
  src/attention/resolve.cpp
)
