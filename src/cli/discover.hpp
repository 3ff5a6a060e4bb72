#pragma once
// Finding your way: the one-line-per-command summary (bare `gmha`, `gmha help`), `gmha help CMD`,
// and "did you mean" for misspelt commands and options, checked before CLI11 parses so the
// message names the word that was wrong rather than CLI11's "arguments were not expected".
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gmha::cli {

/// Levenshtein distance (insert, delete, substitute; each 1).
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `word` when it is close enough to be a likely typo, else nullopt.
std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& candidates);

/// "gmha: <what> ...\n\nCommands:\n  compare  <first line of its description>\n ...".
std::string command_summary(const CLI::App& app);

/// Handles `gmha` and `gmha help [CMD [SUB]]`: the text to print on stdout, or nullopt when
/// argv is another command line. Throws InputError (with a suggestion) for an unknown CMD.
std::optional<std::string> help_text(CLI::App& app, const std::vector<std::string>& args);

/// Checks the command words and --options of `args` (argv without argv[0]) against `app`;
/// throws InputError naming the first unknown one with the nearest known name.
void check_names(CLI::App& app, const std::vector<std::string>& args);

}  // namespace gmha::cli
