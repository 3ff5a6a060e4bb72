# Sources of the gmha executable: main plus one file per subcommand.
set(GMHA_CLI_SOURCES
  src/cli/main.cpp
  src/cli/output.cpp
)
