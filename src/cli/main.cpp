// gmha: attention capacity, checkpoint rank audits, reference kernels and report tables.
// Only this layer prints and exits: library errors carry their exit code (2 bad input,
// 1 failed check, 3 internal error, 4 device error; README "Exit codes"), CLI parse errors
// exit 2 as well.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/discover.hpp"
#include "gmha/core/error.hpp"
#include "gmha/report/table.hpp"

namespace {

// The deepest subcommand the user ran (e.g. `bench decode`).
const CLI::App* ran_subcommand(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return ran_subcommand(*sub);
  return &app;
}

// A library InputError about one of the caller's options starts with the option's name
// ("context: must be positive"); shown under the flag the user typed ("--context: ...") when
// the command has that flag.
std::string with_flag(const CLI::App& app, const gmha::InputError& e) {
  const std::string& option = e.option();
  const std::string message = e.what();
  if (option.empty() || message.rfind(option + ":", 0) != 0) return message;
  for (const CLI::App* a = ran_subcommand(app); a != nullptr; a = a->get_parent()) {
    if (a->get_option_no_throw("--" + option) != nullptr) return "--" + message;
  }
  return message;
}

// Every command that prints tables (has --format) takes --wide: terminal tables are narrowed to
// 100 columns (wrapped headers, then parts that repeat the key columns) unless it is given.
void add_wide_flags(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_option_no_throw("--format") != nullptr) {
      sub->add_flag_callback(
          "--wide", [] { gmha::report::set_text_width(0); },
          "Tables at full width (default: at most 100 columns: headers wrap, columns split)");
    }
    add_wide_flags(*sub);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "gmha: attention variants as low-rank factorisations (MHA, MQA, GQA, MLA, MFA, MFA-KR),\n"
      "their capacity (FRH, SLSD, TER), KV cache, decode FLOPs and cost on hardware.\n\n"
      "Examples:\n"
      "  gmha compare deepseek-v3 step3 qwen3-235b-a22b --context 8k,32k --hardware h800,h20\n"
      "  gmha compare --design gqa:d=4096,heads=32,kv=8,hd=128,layers=32 --format json\n"
      "  gmha show step3\n"
      "  gmha presets",
      "gmha"};
  app.require_subcommand(1);
  app.footer("`gmha help` lists the commands; `gmha help COMMAND` shows one.");
  app.set_version_flag("--version", "gmha 0.1.0");
  // One line per subcommand (src/cli/cmd_<name>.cpp).
  gmha::cli::add_compare_command(app);
  gmha::cli::add_show_command(app);
  gmha::cli::add_presets_command(app);
  gmha::cli::add_hardware_command(app);
  gmha::cli::add_inspect_command(app);
  gmha::cli::add_bench_command(app);
  gmha::cli::add_validate_command(app);
  gmha::cli::add_attention_command(app);
  gmha::cli::add_sweep_command(app);
  gmha::cli::add_fit_command(app);
  gmha::cli::add_report_command(app);
  gmha::cli::add_audit_command(app);
  gmha::cli::add_synth_command(app);
  add_wide_flags(app);
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (const auto text = gmha::cli::help_text(app, args)) {
      std::fputs(text->c_str(), stdout);
      return 0;
    }
    gmha::cli::check_names(app, args);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gmha: error: %s\n", e.what());
    return 2;
  } catch (const gmha::InputError& e) {
    std::fprintf(stderr, "gmha: error: %s\n", with_flag(app, e).c_str());
    return e.exit_code();
  } catch (const gmha::InternalError& e) {
    std::fprintf(stderr, "gmha: internal error (a bug; please report the command): %s\n", e.what());
    return e.exit_code();
  } catch (const gmha::Error& e) {
    std::fprintf(stderr, "gmha: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gmha: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
