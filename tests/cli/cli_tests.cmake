# End-to-end runs of the gmha binary: each checks the exit code and a pattern in the output.
# gmha_cli_test(NAME "<regex stdout must match>" <args...>): must exit 0; the pattern holds a
# known answer (a figure), not only a heading.
function(gmha_cli_test name pattern)
  add_test(NAME cli.${name}
           COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:gmha> "-DARGS=${ARGN}"
                   "-DPATTERN=${pattern}" -DCODE=0 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect_exit.cmake)
endfunction()
# gmha_cli_error_test(NAME "<regex of the one-line error>" <args...>): must exit with code 2.
function(gmha_cli_error_test name pattern)
  add_test(NAME cli.${name}
           COMMAND ${CMAKE_COMMAND} -DCMD=$<TARGET_FILE:gmha> "-DARGS=${ARGN}"
                   "-DPATTERN=${pattern}" -DCODE=2 -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/expect_exit.cmake)
endfunction()

gmha_cli_test(help "Usage" --help)
# Kernels (issue 5): validate, bench decode.
gmha_cli_test(validate_passes ", 0 failed" validate --seed 1 --tokens 20)
gmha_cli_test(validate_preset_reduced "step3 \\(reduced" validate --design step3 --seed 2 --tokens 9)
gmha_cli_test(bench_decode_json "\"floor_seconds\"" bench decode --design mfa:d=512,heads=8,c=64,cq=64 --context 1000 --repeats 2 --format json)
gmha_cli_error_test(validate_bad_device "unknown device 'tpu'" validate --device tpu)
gmha_cli_error_test(validate_bad_tokens "--tokens" validate --tokens 0)
gmha_cli_error_test(bench_bad_dtype "unknown dtype 'fp8'" bench decode --design mfa:d=64,heads=2,c=16,cq=16 --dtype fp8)
gmha_cli_error_test(bench_bad_context "context" bench decode --design mfa:d=64,heads=2,c=16,cq=16 --context 0)
# gmha attention: help, argument errors, and a layer out of range on a synth folder (fixture).
gmha_cli_test(attention_help "Examples:.*--input-norm" attention --help)
gmha_cli_error_test(attention_bad_form "--form: unknown form 'sideways'" attention --weights w --layer 0 --input x.safetensors --out y.safetensors --form sideways)
gmha_cli_error_test(attention_bad_dtype "--dtype: unknown dtype 'fp8'" attention --weights w --layer 0 --input x.safetensors --out y.safetensors --dtype fp8)
gmha_cli_error_test(attention_missing_weights "no-such-ckpt: no such file or folder" attention --weights ${CMAKE_CURRENT_BINARY_DIR}/no-such-ckpt --layer 0 --input x.safetensors --out y.safetensors)
gmha_cli_error_test(attention_needs_layer "--layer is required" attention --weights w --input x.safetensors --out y.safetensors)
add_test(NAME cli.attention_synth_setup
         COMMAND gmha synth ${CMAKE_CURRENT_BINARY_DIR}/cli-attention-llama --layout llama --d 32 --heads 4 --kv-heads 2 --layers 2 --dtype f32)
set_tests_properties(cli.attention_synth_setup PROPERTIES FIXTURES_SETUP attention_llama)
gmha_cli_error_test(attention_layer_out_of_range "layer 2 is out of range \\(num_hidden_layers 2: layers 0..1\\)" attention --weights ${CMAKE_CURRENT_BINARY_DIR}/cli-attention-llama --layer 2 --input ${CMAKE_CURRENT_BINARY_DIR}/no-such-x.safetensors --out ${CMAKE_CURRENT_BINARY_DIR}/cli-attention-y.safetensors)
gmha_cli_error_test(attention_missing_input "no-such-x.safetensors: no such file" attention --weights ${CMAKE_CURRENT_BINARY_DIR}/cli-attention-llama --layer 1 --input ${CMAKE_CURRENT_BINARY_DIR}/no-such-x.safetensors --out ${CMAKE_CURRENT_BINARY_DIR}/cli-attention-y.safetensors)
set_tests_properties(cli.attention_layer_out_of_range cli.attention_missing_input PROPERTIES FIXTURES_REQUIRED attention_llama)
# Reports (issue 6): sweep, fit, report.
gmha_cli_test(sweep_tiny_json "\"evaluated\": 6" sweep --d 64 --layers 2 --families mha,gqa,mqa --heads 4 --head-dims 16,32 --format json)
gmha_cli_test(sweep_budget_table "Best design per family" sweep --d 7168 --layers 61 --families mla,mfa --max-kv-bytes-per-token 70272 --context 32k)
gmha_cli_test(sweep_cost_md "Top 10 by cost:h20" sweep --d 4096 --layers 32 --families gqa,mfa --heads 8-64:8 --objective cost:h20 --format md)
gmha_cli_error_test(sweep_bad_d "--d" sweep --d 0 --layers 2)
gmha_cli_test(sweep_tp_per_device "\"kv_bytes_per_token_per_device\": 640\\.0.*\"unsharded\": 1" sweep --d 2048 --layers 1 --families gla,mla,gqa,mfa,gta,tpa --heads 16 --head-dims 128 --mla-c 256,512 --mla-nope 128 --mla-rope 64 --mla-qlora 0 --gla-hc 2 --mfa-c 256 --mfa-cq 1024 --tpa-r 2 --tpa-rq 2 --tp 4 --objective slsd --max-kv-bytes-per-token-per-device 640 --format json)
gmha_cli_error_test(sweep_bad_tp "--tp" sweep --d 64 --layers 2 --tp 0)
gmha_cli_error_test(sweep_bad_family "unknown family 'xyz'" sweep --d 64 --layers 2 --families xyz)
gmha_cli_error_test(sweep_bad_objective "--objective" sweep --d 64 --layers 2 --objective speed)
gmha_cli_error_test(sweep_bad_grid "--heads" sweep --d 64 --layers 2 --heads 8-4)
gmha_cli_error_test(sweep_bad_budget "--max-kv-bytes-per-token" sweep --d 64 --layers 2 --max-kv-bytes-per-token lots)
gmha_cli_test(compare_fp8_ds_mla "fp8_ds_mla" compare deepseek-v3.2 --kv-dtype fp8_ds_mla --context 128k)
gmha_cli_error_test(compare_fp8_ds_mla_refused "--kv-dtype.*fp8_ds_mla.*got a gqa layer" compare llama3-8b --kv-dtype fp8_ds_mla)
gmha_cli_error_test(sweep_fp8_ds_mla_refused "--kv-dtype: fp8_ds_mla is a layout" sweep --d 64 --layers 2 --kv-dtype fp8_ds_mla)
gmha_cli_test(fit_tp_replication "replicated on every rank" fit step3 --hardware h20 --gpus 8)
gmha_cli_test(fit_hand_json "\"max_context\": 3711" fit --design gqa:d=64,heads=4,kv=2,hd=16,layers=2 --hardware-def t:price=1,bf16=1e12,bw=1e9,mem=1e6 --memory-fraction 1 --format json)
gmha_cli_error_test(fit_bad_gpus "do not split 3 ways" fit llama3-8b --gpus 3)
gmha_cli_error_test(fit_no_memory "--memory" fit llama3-8b --hardware-def x:price=1,bf16=1e12,bw=1e9)
gmha_cli_test(report_paper "wrote 10 files" report step3 deepseek-v3 --hardware h800 --out ${CMAKE_CURRENT_BINARY_DIR}/cli-report-paper)
gmha_cli_error_test(report_nothing "nothing to report" report --out ${CMAKE_CURRENT_BINARY_DIR}/cli-report-nothing)
gmha_cli_error_test(report_missing_audit "no-such-audit.json" report --audit ${CMAKE_CURRENT_BINARY_DIR}/no-such-audit.json --out ${CMAKE_CURRENT_BINARY_DIR}/cli-report-missing)
gmha_cli_test(inspect_help "gmha inspect ../shared/data/stories260K-gguf/stories260K.gguf --format json" inspect --help)
gmha_cli_error_test(inspect_missing "no-such-model.gguf: no such file or folder" inspect ${CMAKE_CURRENT_BINARY_DIR}/no-such-model.gguf)
gmha_cli_error_test(inspect_stats_needs_tensor "--stats: needs --tensor" inspect ${PROJECT_SOURCE_DIR}/README.md --stats)
gmha_cli_test(audit_help "Examples:.*gmha audit merge" audit --help)
gmha_cli_test(synth_help "Examples:.*--preset llama3-8b" synth --help)
gmha_cli_error_test(synth_config_with_shape_flag "--config: the shapes come from the config; drop --heads" synth ${CMAKE_CURRENT_BINARY_DIR}/cli-synth-config --config ${PROJECT_SOURCE_DIR}/README.md --heads 4)
gmha_cli_error_test(synth_config_not_json "README.md.*(JSON|json)" synth ${CMAKE_CURRENT_BINARY_DIR}/cli-synth-config --config ${PROJECT_SOURCE_DIR}/README.md)
gmha_cli_error_test(audit_missing_path "cannot|no such|not found|missing" audit /nonexistent/checkpoint)
# Every --help example runs as written (tests/cli/help_examples.cmake). Release build only: the
# examples are whole runs on real models, and the ASan build covers the same code in the tests
# above.
if(NOT GMHA_SANITIZE)
  add_test(NAME cli.help_examples
           COMMAND ${CMAKE_COMMAND} -E env "PATH=$<TARGET_FILE_DIR:gmha>:$ENV{PATH}"
                   ${CMAKE_COMMAND} -DGMHA=$<TARGET_FILE:gmha> -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DWORK=${CMAKE_CURRENT_BINARY_DIR}/help-examples
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/cli/help_examples.cmake)
  set_tests_properties(cli.help_examples PROPERTIES TIMEOUT 600
                       PASS_REGULAR_EXPRESSION "help examples ran and exited 0")
endif()

# Serving figures (issue 15): the batch-aware step, TP replication, precision, the frontier.
# Llama-3-8B on one H100 at 8K, batch 64: (15,009,849,344 + 64 x 2^30) B / 3.35e12 B/s =
# 24.9938 ms per step; $2/h x 24.9938 ms / 64 tokens = $0.21696 per 1M (tests/capacity/serving_test.cpp).
gmha_cli_test(compare_serving_batch "\"usd_per_mtok\": 0.2169603184" compare llama3-8b --hardware h100 --batch 64 --context 8k --format json)
gmha_cli_test(compare_serving_table "Serving: one decode step" compare llama3-8b --hardware h100 --context 8k)
gmha_cli_test(compare_tp_replication "\"kv_replication\": 8" compare deepseek-v3 --tp 8 --context 8k --format json)
gmha_cli_test(compare_step3_cost_label "Step-3 large-batch model" compare step3 --hardware h20 --context 8k)
gmha_cli_test(compare_beyond_max_context "beyond max_position_embeddings" compare llama3-8b --context 32k)
gmha_cli_error_test(compare_bad_compute_dtype "unknown compute dtype 'fp16'" compare llama3-8b --hardware h100 --compute-dtype fp16)
gmha_cli_error_test(compare_bad_weight_dtype "unknown weight dtype 'fp6'" compare llama3-8b --weight-dtype fp6)
gmha_cli_error_test(compare_bad_tp "--tp: 3: 32 query heads" compare llama3-8b --tp 3)
gmha_cli_error_test(compare_bad_ep "--ep: 3: expert groups must divide the 8 devices" compare deepseek-v3 --tp 8 --ep 3)
gmha_cli_test(compare_ep_json "\"ep\": 8" compare deepseek-v3 --tp 8 --ep 8 --hardware h200 --context 8k --format json)
gmha_cli_error_test(fit_bad_ep "--ep: 3: expert groups must divide the 4 devices" fit mixtral-8x7b --gpus 4 --ep 3)
gmha_cli_error_test(compare_bad_decode_tokens "decode-tokens" compare llama3-8b --decode-tokens 0)
# 80e9 x 0.9 usable - 16,060,522,496 B of weights = 55.94e9 B; / 2^30 B per sequence at 8K = 52.1.
gmha_cli_test(throughput_largest_batch "largest batch that fits 52" throughput llama3-8b --hardware h100 --context 8k)
gmha_cli_test(throughput_json "\"ms_per_token\": 4.80107199" throughput llama3-8b --hardware h100 --context 8k --batch 1 --format json)
gmha_cli_error_test(throughput_needs_card "--hardware" throughput llama3-8b)
gmha_cli_error_test(throughput_no_memory "--memory" throughput llama3-8b --hardware-def x:price=1,bf16=1e12,bw=1e9)
# Memory holds 845,638 tokens of Llama-3-8B's KV on an H200; the model was trained to 8192.
# Each model's own weights are named as they fall on its parts (docs/capacity.md, "Mixed weight formats").
gmha_cli_test(fit_names_mixed_weights "weights: kimi-k2.5 int4-g32 on routed experts, bf16 elsewhere" fit kimi-k2.5 --hardware h200 --gpus 8)
gmha_cli_test(fit_caps_at_model_max "8192 \\(8K\\) \\(model max\\)" fit llama3-8b --hardware h200)
gmha_cli_test(hardware_fp4_peak "FP4" hardware)
