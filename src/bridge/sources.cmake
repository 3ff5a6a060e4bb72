# Sources of the bridge area: checkpoints <-> models. Which tensors of a checkpoint form which
# attention layer (layout), one checkpoint layer's forward pass and its hidden-state files
# (checkpoint_layer), planted-rank checkpoints written from a model shape (synth), and GGUF /
# llama2.c files read as model inputs (checkpoint_model).
list(APPEND GMHA_LIB_SOURCES
  src/bridge/layout.cpp
  src/bridge/checkpoint_layer.cpp
  src/bridge/synth.cpp
  src/bridge/synth_factors.cpp
  src/bridge/synth_gqa.cpp
  src/bridge/synth_latent.cpp
  src/bridge/synth_recurrent.cpp
  src/bridge/synth_quant.cpp
  src/bridge/synth_model.cpp
  src/bridge/checkpoint_model.cpp
  src/bridge/gguf_layers.cpp
)
