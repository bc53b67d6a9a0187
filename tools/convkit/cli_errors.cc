#include "tools/convkit/cli_errors.h"

#include <algorithm>
#include <cctype>

#include "convkit/error.h"

namespace convkit::tool {

using internal::str_cat;

std::size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment over rows i-2, i-1 and i of the (|a|+1) x (|b|+1) table.
  const std::size_t n = b.size();
  std::vector<std::size_t> prev2(n + 1), prev(n + 1), row(n + 1);
  for (std::size_t j = 0; j <= n; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    row[0] = i;
    for (std::size_t j = 1; j <= n; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) row[j] = std::min(row[j], prev2[j - 2] + 1);
    }
    prev2.swap(prev);
    prev.swap(row);
  }
  return prev[n];
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "--padding_mode=reflect" -> "padding_mode".
std::string option_word(const std::string& arg) {
  const std::string name = arg.substr(0, arg.find('='));
  const auto start = name.find_first_not_of('-');
  return start == std::string::npos ? std::string() : name.substr(start);
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
  return names;
}

std::string command_name(const CLI::App& app, const CLI::App* active) {
  return active == &app ? std::string("convkit") : "convkit " + active->get_name();
}

// The subcommand that was given, or the app itself.
const CLI::App* active_command(const CLI::App& app) {
  const auto given = app.get_subcommands([](const CLI::App* s) { return s->parsed(); });
  return given.empty() ? &app : given.front();
}

std::string unknown_option(const CLI::App& app, const CLI::App* active, const std::string& arg) {
  std::vector<std::string> names;
  for (const CLI::Option* o : active->get_options())
    for (const std::string& l : o->get_lnames()) names.push_back(l);
  const std::string guess = closest(option_word(arg), names);
  const std::string cmd = command_name(app, active);
  return str_cat("unknown option '", arg.substr(0, arg.find('=')), "' for '", cmd, "'",
                 guess.empty() ? str_cat("; run '", cmd, " --help' for every option")
                               : str_cat("; did you mean '--", guess, "'?"));
}

std::string unknown_command(const CLI::App& app, const std::string& arg) {
  const std::string guess = closest(arg, command_names(app));
  return str_cat("unknown command '", arg, "'",
                 guess.empty() ? std::string("; run 'convkit --help' for the commands")
                               : str_cat("; did you mean '", guess, "'?"));
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string w = lower(word);
  std::string best;
  std::size_t best_d = std::max<std::size_t>(1, w.size() / 3) + 1;  // farther is not a typo
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(w, lower(c));
    if (d < best_d) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

std::string parse_error_message(const CLI::App& app, const CLI::ParseError& e) {
  // An unknown word explains any error it caused ("--inptu x" also makes "--input is
  // required"), so it is reported first.
  const CLI::App* active = active_command(app);
  for (const std::string& arg : app.remaining(true)) {
    if (arg.size() > 1 && arg[0] == '-') return unknown_option(app, active, arg);
    if (active == &app) return unknown_command(app, arg);
    return str_cat("unexpected argument '", arg, "' for '", command_name(app, active),
                   "' (every value follows its option, e.g. --stride 2)");
  }
  if (active == &app && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
    const auto all = command_names(app);
    std::string names;  // 'a', 'b' or 'c'
    for (std::size_t i = 0; i < all.size(); ++i)
      names += str_cat(i == 0 ? "" : i + 1 == all.size() ? " or " : ", ", "'", all[i], "'");
    return str_cat("a command is required: ", names, " (see 'convkit --help')");
  }
  // CLI11 says "Could not convert: --groups = abc"; add what the option takes ("INT").
  const std::string msg = e.what();
  if (dynamic_cast<const CLI::ConversionError*>(&e) != nullptr)
    for (const CLI::Option* o : active->get_options())
      if (msg.find(o->get_name() + " = ") != std::string::npos) return str_cat(msg, "; expected ", o->get_type_name());
  return msg;
}

}  // namespace convkit::tool
