// How `convkit` reports a command line it cannot parse: one line on stderr that starts with
// "convkit: error:", names the unknown option (or command) and suggests the closest known one.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace convkit::tool {

/// Edit distance with adjacent transpositions counting one ("inptu" -> "input" is 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

/// The candidate closest to `word` (case-insensitive), or "" when none is close enough to be
/// a likely typo: within max(1, size/3) edits of the word.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

/// The message for a parse error of `app` (after app.parse threw `e`): an unknown option of
/// the subcommand that was given, with "did you mean '--padding-mode'?"; an unknown command,
/// with the closest command; otherwise CLI11's own message. Without the "convkit: error: ".
std::string parse_error_message(const CLI::App& app, const CLI::ParseError& e);

}  // namespace convkit::tool
