#pragma once
// lorafgc core: what every workload shares. Errors (InvalidArgument names the
// argument, NumericalError refuses unrepresentable results), algorithm options
// and their declared tables, matrix types (through the project's one Eigen
// include), threads and the machine description, timing, argument checks.
#include <lorafgc/core/checks.hpp>
#include <lorafgc/core/eigen.hpp>
#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/machine.hpp>
#include <lorafgc/core/option_table.hpp>
#include <lorafgc/core/options.hpp>
#include <lorafgc/core/system_info.hpp>
#include <lorafgc/core/timing.hpp>
#include <lorafgc/core/types.hpp>
