// The thin products (lora/common/thin_products.hpp) against the same
// products in double. Any order of summing n products with fused
// multiply-adds in T errs by at most gamma_n = n u / (1 - n u) times the sum
// of |products| (Higham, Accuracy and Stability, 3.1), whatever the vector
// width the dispatch picked; A^T B's final rounding to double adds nothing.
// A lost tail row, a block column written to the wrong place or a lane left
// out of the sum is off by whole terms: far above the bound in double, and in
// float wherever n is small (A W always; A^T B at L <= 17).
#include "lora/common/thin_products.hpp"
#include "lora/simd_targets.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace lorafgc;

namespace {

template <class T>
double gamma(Eigen::Index n) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  return n * u / (1 - n * u);
}

// max over entries of |computed - exact| - gamma_n |A| |B| (<= 0 within the bound).
double excess(const Matrix<double>& computed, const Matrix<double>& exact, const Matrix<double>& magnitude,
              double gamma) {
  return ((computed - exact).cwiseAbs() - gamma * magnitude).maxCoeff();
}

using test::on_each_target;

const Eigen::Index kLengths[] = {1, 7, 17, 33, 1000, 4099};
const std::pair<int, int> kWidths[] = {{1, 1}, {3, 5}, {4, 4}, {5, 16}, {16, 16}, {17, 9}, {32, 29}, {64, 64}};

}  // namespace

TEMPLATE_TEST_CASE("thin_cross_product is A^T B to within the summation bound", "[plan]", float, double) {
  on_each_target([] {
    for (Eigen::Index L : kLengths)
      for (auto [m, n] : kWidths) {
        const Matrix<TestType> A = Matrix<TestType>::Random(L, m), B = Matrix<TestType>::Random(L, n);
        const Matrix<double> a = A.template cast<double>(), b = B.template cast<double>();
        INFO("L = " << L << ", m = " << m << ", n = " << n);
        const Matrix<double> C = lora::detail::thin_cross_product(A, B);
        REQUIRE(C.rows() == m);
        REQUIRE(C.cols() == n);
        const double g = gamma<TestType>(L);
        CHECK(excess(C, a.transpose() * b, a.cwiseAbs().transpose() * b.cwiseAbs(), g) <= 0);
        const Matrix<double> G = lora::detail::thin_cross_product(A, A);
        CHECK(excess(G, a.transpose() * a, a.cwiseAbs().transpose() * a.cwiseAbs(), g) <= 0);
      }
  });
}

TEMPLATE_TEST_CASE("thin_times_small is A W to within the summation bound", "[plan]", float, double) {
  on_each_target([] {
    for (Eigen::Index L : kLengths)
      for (auto [k, n] : kWidths) {
        const Matrix<TestType> A = Matrix<TestType>::Random(L, k), W = Matrix<TestType>::Random(k, n);
        const Matrix<double> a = A.template cast<double>(), w = W.template cast<double>();
        INFO("L = " << L << ", k = " << k << ", n = " << n);
        const Matrix<TestType> C = lora::detail::thin_times_small(A, W);
        REQUIRE(C.rows() == L);
        REQUIRE(C.cols() == n);
        CHECK(excess(C.template cast<double>(), a * w, a.cwiseAbs() * w.cwiseAbs(), gamma<TestType>(k + 1)) <= 0);
      }
  });
}

TEST_CASE("the thin products refuse mismatched factors, and are zero over an empty sum", "[plan]") {
  const Matrix<float> four = Matrix<float>::Ones(4, 2), five = Matrix<float>::Ones(5, 2);
  CHECK_THROWS_AS(lora::detail::thin_cross_product(four, five), InvalidArgument);
  const Matrix<float> three = Matrix<float>::Ones(3, 2);
  CHECK_THROWS_AS(lora::detail::thin_times_small(four, three), InvalidArgument);
  CHECK(lora::detail::thin_cross_product(Matrix<float>(0, 3), Matrix<float>(0, 2)) == Matrix<double>::Zero(3, 2));
  CHECK(lora::detail::thin_times_small(Matrix<float>(5, 0), Matrix<float>(0, 2)) == Matrix<float>::Zero(5, 2));
}
