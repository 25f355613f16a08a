#pragma once
// An algorithm's options, declared once as a table of (name, type, default,
// help, range or choices). Parsing, range checks, the canonical spec string
// and the help text are all generated from the table, so an option cannot be
// parsed one way and documented another.
#include <lorafgc/core/options.hpp>

#include <limits>
#include <map>
#include <string>
#include <vector>

namespace lorafgc {

enum class OptionType { integer, real, boolean, choice };

// Bounds of an integer or real option; open ends exclude the bound.
struct OptionRange {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;

  bool contains(double value) const;
  std::string text() const;  // "[1, inf)", "(0, 1)"
};

OptionRange at_least(double min);
OptionRange between(double min, double max);  // closed
OptionRange open_interval(double min, double max);

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::integer;
  std::string default_value;
  std::string help;
  OptionRange range;                 // integer and real
  std::vector<std::string> choices;  // choice
};

// Table rows; a choice option's default is its first choice.
OptionSpec integer_option(std::string name, long long default_value, OptionRange range, std::string help);
OptionSpec real_option(std::string name, double default_value, OptionRange range, std::string help);
OptionSpec boolean_option(std::string name, bool default_value, std::string help);
OptionSpec choice_option(std::string name, std::vector<std::string> choices, std::string help);

// Every option of a table with its value: given ones parsed and checked,
// the others at their defaults.
class OptionValues {
 public:
  long long integer(const std::string& name) const;
  double real(const std::string& name) const;
  bool boolean(const std::string& name) const;
  const std::string& choice(const std::string& name) const;
  // Whether the table declares `name`.
  bool declares(const std::string& name) const { return text_.count(name) > 0; }
  // "key=value,..." in key order, each value in canonical text (integers in
  // decimal, reals as %.17g, booleans as true/false): parsing it again gives
  // the same values.
  std::string canonical() const;

 private:
  friend OptionValues parse_options(const std::string&, const std::vector<OptionSpec>&, const Options&);
  const std::string& text(const std::string& name) const;
  std::map<std::string, std::string> text_;
  std::map<std::string, double> number_;
};

// Throws InvalidArgument naming the option ("option 'eps'") for a key the table
// does not declare, a malformed value or one outside its range or choices.
OptionValues parse_options(const std::string& algorithm, const std::vector<OptionSpec>& table,
                           const Options& given);

// One line per option: "  name=default  type, range: help".
std::string options_help(const std::vector<OptionSpec>& table);

}  // namespace lorafgc
