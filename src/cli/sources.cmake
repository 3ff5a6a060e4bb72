# Sources of the gmha executable: main plus one file per subcommand.
set(GMHA_CLI_SOURCES
  src/cli/main.cpp
  src/cli/output.cpp
  src/cli/model_args.cpp
  src/cli/capacity_tables.cpp
  src/cli/cmd_compare.cpp
  src/cli/cmd_show.cpp
  src/cli/cmd_presets.cpp
  src/cli/cmd_inspect.cpp
  src/cli/cmd_bench.cpp
  src/cli/cmd_validate.cpp
  src/cli/cmd_sweep.cpp
  src/cli/cmd_fit.cpp
  src/cli/cmd_report.cpp
  src/cli/cmd_audit.cpp
  src/cli/cmd_synth.cpp
)
