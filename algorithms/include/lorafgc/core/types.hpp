#pragma once
// Dense matrix types of every workload (column-major, Eigen) and dtype names.
#include <lorafgc/core/eigen.hpp>

namespace lorafgc {

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <class T>
const char* dtype_name();
template <>
inline const char* dtype_name<float>() { return "float32"; }
template <>
inline const char* dtype_name<double>() { return "float64"; }

}  // namespace lorafgc
