#include "cli/discover.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>

#include "gmha/core/error.hpp"

namespace gmha::cli {
namespace {

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(s->get_name());
  }
  return names;
}

CLI::App* find_subcommand(CLI::App& app, const std::string& name) {
  for (CLI::App* s : app.get_subcommands([](CLI::App*) { return true; })) {
    if (s->get_name() == name) return s;
  }
  return nullptr;
}

// "--name" for every long option of `cmd`, and of the apps above it where CLI11 passes unknown
// options up (fallthrough; off by default, so `audit merge --worst` is an error).
std::vector<std::string> long_options(const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const CLI::App* a = &cmd; a != nullptr;
       a = a->get_fallthrough() ? a->get_parent() : nullptr) {
    for (const CLI::Option* o : a->get_options()) {
      for (const std::string& n : o->get_lnames()) names.push_back("--" + n);
    }
  }
  return names;
}

// A description's first sentence on one line, at most ~90 columns (cut at a word).
std::string summary_line(const std::string& description) {
  std::string s = description.substr(0, description.find("\n\n"));
  std::replace(s.begin(), s.end(), '\n', ' ');
  const size_t stop = s.find(". ");
  if (stop != std::string::npos) s = s.substr(0, stop + 1);
  constexpr size_t kMax = 90;
  if (s.size() > kMax) {
    const size_t space = s.rfind(' ', kMax - 3);
    s = s.substr(0, space == std::string::npos ? kMax - 3 : space) + "...";
  }
  return s;
}

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// "audit merge" for a subcommand; "" for gmha itself (main prefixes "gmha: error: ").
std::string path_of(const CLI::App& cmd) {
  std::string s;
  for (const CLI::App* a = &cmd; a != nullptr && a->get_parent() != nullptr; a = a->get_parent()) {
    s = a->get_name() + (s.empty() ? "" : " " + s);
  }
  return s;
}

std::string prefixed(const CLI::App& cmd, const std::string& message) {
  const std::string p = path_of(cmd);
  return p.empty() ? message : p + ": " + message;
}

std::string did_you_mean(const std::optional<std::string>& near) {
  return near ? fmt::format(" (did you mean '{}'?)", *near) : "";
}

std::string help_for(const CLI::App& cmd) {
  return path_of(cmd).empty() ? "gmha help" : "gmha help " + path_of(cmd);
}

std::string unknown_command(const CLI::App& parent, const std::string& word) {
  const auto near = closest(word, subcommand_names(parent));
  return prefixed(parent, fmt::format("unknown command '{}'{}; `{}` lists the commands", word,
                                      did_you_mean(near), help_for(parent)));
}

std::string unknown_option(const CLI::App& cmd, const std::string& name) {
  const auto near = closest(name, long_options(cmd));
  return prefixed(cmd, fmt::format("unknown option '{}'{}; `{}` lists the options", name,
                                   did_you_mean(near), help_for(cmd)));
}

// A positional that looks like a misspelt sub-subcommand of a command that also takes a path
// (`audit mrge a.json`): when no such file exists it is a typo, not a checkpoint.
void check_subcommand_typo(const CLI::App& cmd, const std::string& word) {
  const auto names = subcommand_names(cmd);
  if (names.empty() || path_exists(word)) return;
  // Without a positional argument (bench) any other word is an unknown subcommand.
  const bool takes_path =
      !cmd.get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
  if (!takes_path) throw InputError(unknown_command(cmd, word));
  if (const auto near = closest(word, names)) {
    throw InputError(prefixed(cmd, fmt::format("'{}' is not a checkpoint (no such file or "
                                               "folder); did you mean `gmha {} {}`?",
                                               word, path_of(cmd), *near)));
  }
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = 0;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (!best || d < best_d) best = c, best_d = d;
  }
  // A third of the word (at least 2 edits) is a typo; more is a different word.
  if (!best || best_d > std::max<size_t>(2, word.size() / 3)) return std::nullopt;
  return best;
}

std::string command_summary(const CLI::App& app) {
  std::string s = app.get_description().substr(0, app.get_description().find("\n\n")) +
                  "\n\nUsage: gmha COMMAND [OPTIONS]\n\n"
                  "Commands:\n";
  const auto names = subcommand_names(app);
  size_t width = 0;
  for (const auto& n : names) width = std::max(width, n.size());
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) {
    s += fmt::format("  {:<{}}  {}\n", c->get_name(), width, summary_line(c->get_description()));
  }
  s += "\n`gmha help COMMAND` (or `gmha COMMAND --help`) shows a command's options and examples.\n";
  return s;
}

std::optional<std::string> help_text(CLI::App& app, const std::vector<std::string>& args) {
  if (args.empty()) return command_summary(app);
  if (args[0] != "help") return std::nullopt;
  CLI::App* cmd = &app;
  for (size_t i = 1; i < args.size(); ++i) {
    CLI::App* sub = find_subcommand(*cmd, args[i]);
    if (sub == nullptr) throw InputError(unknown_command(*cmd, args[i]));
    cmd = sub;
  }
  return cmd == &app ? command_summary(app) : cmd->help();
}

void check_names(CLI::App& app, const std::vector<std::string>& args) {
  CLI::App* cmd = &app;
  bool positional_seen = false;  // after a command's first positional, words are its arguments
  for (const std::string& a : args) {
    if (a == "--") return;  // everything after is positional
    if (a.rfind("--", 0) == 0) {
      const std::string name = a.substr(0, a.find('='));
      const auto names = long_options(*cmd);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        throw InputError(unknown_option(*cmd, name));
      }
      continue;
    }
    if (a.empty() || a[0] == '-' || positional_seen) continue;
    if (CLI::App* sub = find_subcommand(*cmd, a)) {
      cmd = sub;
      continue;
    }
    // A bare word: at the top it must be a command; below, the first one may be a typo of a
    // subcommand (audit mrge) or the command's own positional.
    if (cmd == &app) throw InputError(unknown_command(app, a));
    check_subcommand_typo(*cmd, a);
    positional_seen = !subcommand_names(*cmd).empty();
  }
}

}  // namespace gmha::cli
