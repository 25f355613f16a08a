// poly-hybrid in the registry: the polynomial method (Chebyshev) with the
// longest rows of Q and of K taken exactly, so that the polynomial covers only
// the smaller range the rest leave (docs/lora-gradients.md, "The hybrid
// method"). The computation is poly's (lora/poly: exact_pairs.hpp enters the
// three sweeps, outlier_rows.hpp picks the counts).
#include <lorafgc/core/limits.hpp>
#include <lorafgc/lora/registry.hpp>

#include "lora/common/error_models.hpp"
#include "lora/poly/poly.hpp"

namespace lorafgc::lora::families {

std::vector<Registration> poly_hybrid() {
  Registration r;
  r.name = "poly-hybrid";
  r.description =
      "Polynomial method with the longest rows of Q and K exact: every score of an outlier query or key is "
      "exp(S) itself, the rest the certified Chebyshev polynomial on the smaller range they leave; O(L (k + m) d r), "
      "no L x L matrix, same a-priori bound.";
  r.exact = false;
  // As poly-cheb: info["error_bound"] bounds every |G~ - G|; the exact pairs add
  // sums of O(L) exp-weighted terms, reordered between thread counts like the rest.
  r.accuracy = {Accuracy::Guarantee::a_priori_bound, 1e-4, 1e-12, "eps=1e-12"};
  r.options = poly_options();
  r.options.push_back(integer_option("outliers", -1, between(-1, static_cast<double>(limit(Quantity::length).max)),
                                     "rows of Q and of K taken exactly, the longest (-1: the counts the cost model "
                                     "picks per call, 0: plain poly-cheb)"));
  // Off by default: the re-centred bulk is narrower, but the cost model
  // under-predicts the exact pairs it then takes, and auto chose them where
  // poly-cheb was 1.3-1.6x faster (docs/lora-gradients.md, "The hybrid method").
  r.options.push_back(boolean_option("recentre", false,
                                     "LoRA gradients: re-centre the keys on the mean of those left to the polynomial "
                                     "(a narrower range where far keys pull the centre; attention always does)"));
  r.variants = {"poly-hybrid", "poly-hybrid:outliers=16"};
  r.make = [](const OptionValues& o) { return make_poly("poly-hybrid", PolynomialKind::Chebyshev, o, true); };
  // Predicted with poly-cheb's calibration (its sweeps are poly-cheb's); the
  // pairs' cost enters as gathered flops (cost_model.hpp).
  r.error_model = detail::certified_entry_error_model("poly-cheb", true);
  r.plain_form = "poly-cheb";  // no outliers: the same plan, cost and calibration (poly_cost_floors)
  return {r};
}

}  // namespace lorafgc::lora::families
