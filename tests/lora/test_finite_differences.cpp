// Central finite differences of the loss against every adapter gradient, in
// double, for partial and full adaptation, over several L, d, r and beta.
//
// Tolerance: for step h, the central difference has truncation error
// h^2/6 |f'''| and rounding error about u |loss| / h (u = 1.1e-16). With
// h = 1e-5 * max(1, |theta|) and losses of order 1e2, rounding is ~1e-9 and
// truncation ~1e-10 |f'''|; the gradients are of order 1e-1 .. 1e2, so we ask
// |fd - g| <= 1e-6 * max|G| + 1e-8 for every entry. A wrong sign, factor or a
// missing term (s, beta, the delta correction) is off by orders more.
#include "lora_support.hpp"

#include <catch2/catch.hpp>

using namespace lorafgc;
using namespace lorafgc::lora;

namespace {

double loss_of(const Problem<double>& p) { return exact_reference_loss(p); }

void check_adapter(Problem<double> p, Projection proj, const AdapterGradient<double>& g) {
  auto& ad = *p.adapter[index(proj)];
  const double gmax = std::max(g.dA.cwiseAbs().maxCoeff(), g.dB.cwiseAbs().maxCoeff());
  const double tol = 1e-6 * gmax + 1e-8;
  for (int which = 0; which < 2; ++which) {
    Matrix<double>& theta = which == 0 ? ad.B : ad.A;
    const Matrix<double>& grad = which == 0 ? g.dB : g.dA;
    for (Eigen::Index j = 0; j < theta.cols(); ++j)
      for (Eigen::Index i = 0; i < theta.rows(); ++i) {
        const double keep = theta(i, j);
        const double h = 1e-5 * std::max(1.0, std::abs(keep));
        theta(i, j) = keep + h;
        const double up = loss_of(p);
        theta(i, j) = keep - h;
        const double down = loss_of(p);
        theta(i, j) = keep;
        const double fd = (up - down) / (2 * h);
        INFO(key(proj) << (which == 0 ? ".B(" : ".A(") << i << "," << j << ") fd=" << fd
                       << " grad=" << grad(i, j));
        REQUIRE(std::abs(fd - grad(i, j)) <= tol);
      }
  }
}

}  // namespace

TEST_CASE("adapter gradients match central finite differences", "[fd]") {
  struct Case {
    long long L, d, r;
    double beta;
    Adaptation mode;
  };
  const Case cases[] = {{5, 3, 1, 1.0, Adaptation::Partial}, {16, 4, 2, 1.0, Adaptation::Full},
                        {23, 6, 3, 0.4, Adaptation::Partial}, {12, 5, 2, 2.5, Adaptation::Full},
                        {9, 8, 4, 1.0 / std::sqrt(8.0), Adaptation::Full}};
  for (const auto& c : cases) {
    auto cfg = test::config(c.L, c.d, c.r, c.mode, 1.5, 11 + c.L);
    cfg.beta = c.beta;
    cfg.batch = c.L % 2 ? 1 : 2;
    const Problem<double> p = generate<double>(cfg);
    for (const std::string spec : {"exact-reference", "exact:block=4", "exact:schedule=stream,block=3,tile=5"}) {
      const auto g = make_algorithm(spec)->compute(p);
      INFO(spec << " L=" << c.L << " d=" << c.d << " r=" << c.r << " beta=" << c.beta << " "
                << to_string(c.mode));
      for (Projection proj : kProjections)
        if (p.adapted(proj)) check_adapter(p, proj, *g.adapter[index(proj)]);
      REQUIRE(g.loss == Approx(loss_of(p)).epsilon(1e-13));
    }
  }
}
