#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/option_table.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace lorafgc {

namespace {

std::string number_text(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

const char* type_name(OptionType t) {
  switch (t) {
    case OptionType::integer: return "integer";
    case OptionType::real: return "real";
    case OptionType::boolean: return "bool";
    case OptionType::choice: return "choice";
  }
  return "?";
}

std::string choices_text(const std::vector<std::string>& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i)
    out += (i == 0 ? "'" : i + 1 == choices.size() ? " or '" : ", '") + choices[i] + "'";
  return out;
}

constexpr long long kLargestExactInteger = 1LL << 53;

// The canonical text of one option's value, and its number for integer/real.
std::string parse_value(const OptionSpec& o, const Options& given, double& number) {
  const std::string what = "option '" + o.name + "'";
  number = std::nan("");
  switch (o.type) {
    case OptionType::boolean:
      return given.get_bool(o.name, false) ? "true" : "false";
    case OptionType::choice: {
      const std::string v = given.get_string(o.name, "");
      for (const auto& c : o.choices)
        if (c == v) return v;
      throw InvalidArgument(what, "expected " + choices_text(o.choices) + ", got '" + v + "'");
    }
    case OptionType::integer: {
      // Values are kept as doubles: beyond 2^53 they would round, and near
      // LLONG_MAX convert back out of range (undefined; a fuzz finding).
      const long long v = given.get_int(o.name, 0);
      if (v > kLargestExactInteger || v < -kLargestExactInteger)
        throw InvalidArgument(what, "must lie in " + o.range.text() + " and within +-2^53, got " +
                                        given.get_string(o.name, ""));
      number = static_cast<double>(v);
      break;
    }
    case OptionType::real:
      number = given.get_double(o.name, 0);
      break;
  }
  if (!o.range.contains(number))
    throw InvalidArgument(what, "must lie in " + o.range.text() + ", got " + given.get_string(o.name, ""));
  return o.type == OptionType::integer ? std::to_string(static_cast<long long>(number)) : number_text(number);
}

}  // namespace

bool OptionRange::contains(double v) const {
  return (min_open ? v > min : v >= min) && (max_open ? v < max : v <= max);
}

std::string OptionRange::text() const {
  return std::string(min_open ? "(" : "[") + number_text(min) + ", " + number_text(max) +
         (max_open || std::isinf(max) ? ")" : "]");
}

OptionRange at_least(double min) { return {min}; }
OptionRange between(double min, double max) { return {min, max}; }
OptionRange open_interval(double min, double max) { return {min, max, true, true}; }

OptionSpec integer_option(std::string name, long long default_value, OptionRange range, std::string help) {
  return {std::move(name), OptionType::integer, std::to_string(default_value), std::move(help), range, {}};
}

OptionSpec real_option(std::string name, double default_value, OptionRange range, std::string help) {
  return {std::move(name), OptionType::real, number_text(default_value), std::move(help), range, {}};
}

OptionSpec boolean_option(std::string name, bool default_value, std::string help) {
  return {std::move(name), OptionType::boolean, default_value ? "true" : "false", std::move(help), {}, {}};
}

OptionSpec choice_option(std::string name, std::vector<std::string> choices, std::string help) {
  std::string first = choices.empty() ? "" : choices.front();
  return {std::move(name), OptionType::choice, std::move(first), std::move(help), {}, std::move(choices)};
}

const std::string& OptionValues::text(const std::string& name) const {
  const auto it = text_.find(name);
  if (it == text_.end()) throw InvalidArgument("option '" + name + "'", "is not declared by this algorithm");
  return it->second;
}

long long OptionValues::integer(const std::string& name) const {
  text(name);
  return static_cast<long long>(number_.at(name));
}

double OptionValues::real(const std::string& name) const {
  text(name);
  return number_.at(name);
}

bool OptionValues::boolean(const std::string& name) const { return text(name) == "true"; }

const std::string& OptionValues::choice(const std::string& name) const { return text(name); }

std::string OptionValues::canonical() const {
  std::string out;
  for (const auto& [k, v] : text_) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

OptionValues parse_options(const std::string& algorithm, const std::vector<OptionSpec>& table,
                           const Options& given) {
  OptionValues out;
  for (const OptionSpec& o : table) {
    Options one;
    one.set(o.name, given.has(o.name) ? given.values().at(o.name) : o.default_value);
    double number = 0;
    out.text_[o.name] = parse_value(o, one, number);
    out.number_[o.name] = number;
    given.get_string(o.name, "");  // mark as used
  }
  given.reject_unused(algorithm);
  return out;
}

std::string options_help(const std::vector<OptionSpec>& table) {
  std::ostringstream out;
  for (const OptionSpec& o : table) {
    out << "  " << o.name << "=" << o.default_value << "  " << type_name(o.type);
    if (o.type == OptionType::choice) out << " " << choices_text(o.choices);
    if (o.type == OptionType::integer || o.type == OptionType::real) out << " in " << o.range.text();
    out << ": " << o.help << "\n";
  }
  return out.str();
}

}  // namespace lorafgc
