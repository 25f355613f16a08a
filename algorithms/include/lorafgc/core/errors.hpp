#pragma once
// Errors the library raises. InvalidArgument derives from std::invalid_argument
// so that pybind11 turns it into a Python ValueError without extra glue.
#include <stdexcept>
#include <string>

namespace lorafgc {

class InvalidArgument : public std::invalid_argument {
 public:
  InvalidArgument(const std::string& argument, const std::string& what)
      : std::invalid_argument(argument + ": " + what), argument_(argument) {}
  const std::string& argument() const noexcept { return argument_; }

 private:
  std::string argument_;
};

// A result that cannot be represented (overflow in float, say): the inputs were
// valid, but passing the result on would pass on garbage.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lorafgc
