# Tests of the bridge area: layouts, a checkpoint layer's forward pass, synth checkpoints.
list(APPEND GMHA_TEST_SOURCES
  checkpoint/fixture_writer.cpp
  bridge/hf_attention_loops.cpp
  bridge/tiny_checkpoint.cpp
  bridge/layout_test.cpp
  bridge/checkpoint_layer_test.cpp
  bridge/checkpoint_model_test.cpp
  bridge/gguf_layers_test.cpp
  bridge/synth_quant_test.cpp
)
