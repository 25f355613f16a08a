#pragma once
// Row-major matrices and maps: the layout of numpy arrays and of the
// attention tensors (lorafgc/lora/attention.hpp), and of the fused kernels'
// row-side operands.
#include <lorafgc/core/types.hpp>

namespace lorafgc::lora::detail {

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstRows = Eigen::Map<const RowMajor<T>>;
template <class T>
using Rows = Eigen::Map<RowMajor<T>>;

}  // namespace lorafgc::lora::detail
