#include <lorafgc/core/errors.hpp>
#include <lorafgc/core/limits.hpp>
#include <lorafgc/core/random.hpp>
#include <lorafgc/lora/generator.hpp>

#include "lora/common/score_range.hpp"

#include <lorafgc/lora/score_range.hpp>

#include <cmath>
#include <algorithm>
#include <limits>
#include <random>

namespace lorafgc::lora {

std::string family_name(InstanceFamily family) {
  switch (family) {
    case InstanceFamily::Gaussian: return "gaussian";
    case InstanceFamily::Llm: return "llm";
    case InstanceFamily::Adversarial: return "adversarial";
  }
  return "?";
}

InstanceFamily parse_family(const std::string& name) {
  for (InstanceFamily f : {InstanceFamily::Gaussian, InstanceFamily::Llm, InstanceFamily::Adversarial})
    if (name == family_name(f)) return f;
  throw InvalidArgument("family", "unknown instance family '" + name + "' (known: gaussian, llm, adversarial)");
}

namespace {

void require_finite_at_least(const std::string& name, double value, double low, const std::string& what) {
  if (!(value >= low) || !std::isfinite(value)) throw InvalidArgument(name, "must be finite and " + what);
}

}  // namespace

void GeneratorConfig::validate() const {
  require_count("L", length, Quantity::length);
  require_count("d", width, Quantity::width);
  require_count("r", rank, Quantity::rank);
  require_count("batch", batch, Quantity::batch);
  if (!(gamma > 0) || !std::isfinite(gamma))
    throw InvalidArgument("gamma", "must be positive and finite");
  if (!(lora_share >= 0 && lora_share < 1))
    throw InvalidArgument("lora_share", "must lie in [0, 1)");
  if (!std::isfinite(alpha) || alpha == 0) throw InvalidArgument("alpha", "must be finite and non-zero");
  if (!std::isfinite(beta)) throw InvalidArgument("beta", "must be finite");
  if (!(score_bound >= 0) || !std::isfinite(score_bound))
    throw InvalidArgument("score_bound", "must be finite and >= 0 (0: off)");
  if (score_bound > 0 && beta == 0) throw InvalidArgument("score_bound", "needs beta != 0");
  if (family == InstanceFamily::Llm) {
    require_finite_at_least("key_share", llm.key_share, 0, ">= 0");
    if (llm.outlier_channels < 0 || llm.outlier_channels > width)
      throw InvalidArgument("outlier_channels", "must lie in [0, d = " + std::to_string(width) + "], got " +
                                                    std::to_string(llm.outlier_channels));
    if (!(llm.outlier_scale > 0) || !std::isfinite(llm.outlier_scale))
      throw InvalidArgument("outlier_scale", "must be positive and finite");
    require_finite_at_least("spectrum_decay", llm.spectrum_decay, 0, ">= 0 (0: a flat spectrum)");
  }
  if (family == InstanceFamily::Adversarial) require_finite_at_least("adversarial_noise", adversarial_noise, 0, ">= 0");
  // The largest of the three factors is the one to lower.
  const std::string name = batch >= length && batch >= width ? "batch" : length >= width ? "L" : "d";
  require_memory(name, instance_bytes(),
                 "an instance of batch " + std::to_string(batch) + " x L " + std::to_string(length) + " x d " +
                     std::to_string(width));
}

double GeneratorConfig::instance_bytes() const {
  const double tokens = static_cast<double>(batch) * length * width;
  const double weights = 3.0 * width * (width + 2.0 * rank);
  // X and Y drawn in double and rounded to the dtype (at most double), the
  // weights likewise, and two L x d products in double while scaling.
  return 32 * tokens + 16 * weights + 16.0 * length * width;
}

template <class T>
void validate_representable(const GeneratorConfig& c) {
  const double max = static_cast<double>(std::numeric_limits<T>::max());
  if (c.gamma > max)
    throw InvalidArgument("gamma", "entries of X W up to " + number_text(c.gamma) + " overflow " +
                                       dtype_name<T>() + " (largest " + number_text(max) + ")");
  if (c.score_bound > max)
    throw InvalidArgument("score_bound", "scores up to " + number_text(c.score_bound) + " overflow " +
                                             dtype_name<T>() + " (largest " + number_text(max) + ")");
}

namespace {

Matrix<double> gaussian(std::mt19937_64& rng, long long rows, long long cols) {
  return gaussian_matrix(rng, rows, cols);
}

// The llm family's tokens before the shared component: a decaying spectrum in
// a random basis, then heavy-tailed outlier channels.
std::vector<Matrix<double>> llm_tokens(std::mt19937_64& rng, const GeneratorConfig& c) {
  const long long L = c.length, d = c.width;
  Vector<double> scale(d);
  for (long long k = 0; k < d; ++k) scale(k) = std::pow(static_cast<double>(k + 1), -c.llm.spectrum_decay);
  const Matrix<double> basis = Eigen::HouseholderQR<Matrix<double>>(gaussian(rng, d, d)).householderQ();
  std::vector<long long> channels(d);
  for (long long k = 0; k < d; ++k) channels[k] = k;
  std::shuffle(channels.begin(), channels.end(), rng);
  channels.resize(c.llm.outlier_channels);
  std::student_t_distribution<double> heavy(3.0);
  std::vector<Matrix<double>> X;
  for (long long b = 0; b < c.batch; ++b) {
    Matrix<double> x = gaussian(rng, L, d) * scale.asDiagonal() * basis.transpose();
    const double rms = x.norm() / std::sqrt(static_cast<double>(L * d));
    for (long long k : channels)
      for (long long i = 0; i < L; ++i) x(i, k) = c.llm.outlier_scale * rms * heavy(rng);
    X.push_back(std::move(x));
  }
  return X;
}

// The adversarial family's tokens before their direction u is known (it
// depends on the weights): the noise z_i / sqrt(d) and, in column d, the sign s_i.
std::vector<Matrix<double>> adversarial_tokens(std::mt19937_64& rng, const GeneratorConfig& c) {
  std::bernoulli_distribution sign(0.5);
  std::vector<Matrix<double>> X;
  for (long long b = 0; b < c.batch; ++b) {
    Matrix<double> x(c.length, c.width + 1);
    x.leftCols(c.width) = gaussian(rng, c.length, c.width) * (c.adversarial_noise / std::sqrt(double(c.width)));
    for (long long i = 0; i < c.length; ++i) x(i, c.width) = sign(rng) ? 1.0 : -1.0;
    X.push_back(std::move(x));
  }
  return X;
}

// Tokens s_i u + noise, u the unit direction W_q (effective) stretches most, so
// that the noise moves the scores by about adversarial_noise of their size.
void place_adversarial_tokens(std::vector<Matrix<double>>& X, const Matrix<double>& Wq) {
  const Vector<double> u = Eigen::JacobiSVD<Matrix<double>>(Wq, Eigen::ComputeFullU).matrixU().col(0);
  for (auto& x : X) {
    const Eigen::Index d = x.cols() - 1;
    const Matrix<double> placed = x.leftCols(d) + x.col(d) * u.transpose();
    x = placed;
  }
}

std::vector<Matrix<double>> tokens(std::mt19937_64& rng, const GeneratorConfig& c) {
  if (c.family == InstanceFamily::Llm) return llm_tokens(rng, c);
  if (c.family == InstanceFamily::Adversarial) return adversarial_tokens(rng, c);
  std::vector<Matrix<double>> X;
  for (long long b = 0; b < c.batch; ++b) X.push_back(gaussian(rng, c.length, c.width));
  return X;
}

double max_abs_projection(const std::vector<Matrix<double>>& X, const Matrix<double>& W) {
  double m = 0;
  for (const auto& x : X) m = std::max(m, (x * W).cwiseAbs().maxCoeff());
  return m;
}

}  // namespace

// Everything is drawn and scaled in double, then rounded once to T, so float and
// double instances of one seed are the same instance.
namespace {

// After rounding to T: an entry that overflowed names the scaling parameter.
template <class T>
void require_representable(const GeneratorConfig& c, const Problem<T>& p) {
  bool finite = true;
  for (const auto& x : p.X) finite = finite && x.allFinite();
  for (const auto& y : p.Y) finite = finite && y.allFinite();
  for (Projection mu : kProjections) {
    finite = finite && p.W[index(mu)].allFinite();
    if (const auto& a = p.adapter[index(mu)]) finite = finite && a->A.allFinite() && a->B.allFinite();
  }
  if (!finite)
    throw InvalidArgument(c.score_bound > 0 ? "score_bound" : "gamma",
                          std::string("the instance overflows ") + dtype_name<T>() +
                              " (its weights or targets are not representable); lower gamma or score_bound, "
                              "or raise alpha, or use float64");
}

}  // namespace

template <class T>
Problem<T> generate(const GeneratorConfig& c) {
  c.validate();
  validate_representable<T>(c);
  std::mt19937_64 rng(c.seed);
  const long long L = c.length, d = c.width, r = c.rank;
  const double s = c.alpha / static_cast<double>(r);

  std::vector<Matrix<double>> X = tokens(rng, c), Y;

  std::array<Matrix<double>, 3> W;
  std::array<std::optional<LoraAdapter<double>>, 3> ad;
  Matrix<double> drawn_q;
  for (Projection p : kProjections) {
    Matrix<double> w = gaussian(rng, d, d);
    if (p == Projection::Q) drawn_q = w;
    // Adversarial: W_k* = W_q*, so that q_i and k_j point along one direction.
    if (p == Projection::K && c.family == InstanceFamily::Adversarial) w = drawn_q;
    const bool adapted = p != Projection::K || c.adaptation == Adaptation::Full;
    if (!adapted) {
      W[index(p)] = w;
      continue;
    }
    LoraAdapter<double> a{gaussian(rng, d, r), gaussian(rng, r, d)};
    // Give the two terms Frobenius norms (1 - share) and share: scale W* and B.
    const double lora_norm = s * (a.B * a.A).norm();
    w *= (1.0 - c.lora_share) / w.norm();
    a.B *= c.lora_share / lora_norm;
    W[index(p)] = w;
    ad[index(p)] = a;
  }
  auto effective = [&](Projection p) {
    Matrix<double> eff = W[index(p)];
    if (ad[index(p)]) eff += s * ad[index(p)]->B * ad[index(p)]->A;
    return eff;
  };
  if (c.family == InstanceFamily::Adversarial) place_adversarial_tokens(X, effective(Projection::Q));
  if (c.family == InstanceFamily::Llm) {
    const Vector<double> x0 = common_key_shift(X, effective(Projection::K), c.llm.key_share);
    for (auto& x : X) x.rowwise() += x0.transpose();
  }
  // Scale each projection so that max |X W_mu| = gamma exactly (in double).
  for (Projection p : kProjections) {
    const Matrix<double> eff = effective(p);
    const double m = max_abs_projection(X, eff);
    const double f = m > 0 ? c.gamma / m : 1.0;
    W[index(p)] *= f;
    if (ad[index(p)]) ad[index(p)]->B *= f;
  }
  if (c.score_bound > 0) {
    const double bound = detail::score_range(X, effective(Projection::Q), effective(Projection::K)).bound(c.beta);
    const double f = bound > 0 ? std::sqrt(c.score_bound / bound) : 1.0;
    for (Projection p : {Projection::Q, Projection::K}) {
      W[index(p)] *= f;
      if (ad[index(p)]) ad[index(p)]->B *= f;
    }
  }
  // Targets with the scale of V, so the residual is neither negligible nor dominant.
  const Matrix<double> Wv = effective(Projection::V);
  for (long long b = 0; b < c.batch; ++b) {
    const double rms = (X[b] * Wv).norm() / std::sqrt(static_cast<double>(L * d));
    Y.push_back(gaussian(rng, L, d) * rms);
  }

  Problem<T> out;
  for (auto& x : X) out.X.push_back(x.cast<T>());
  for (auto& y : Y) out.Y.push_back(y.cast<T>());
  for (Projection p : kProjections) {
    out.W[index(p)] = W[index(p)].cast<T>();
    if (ad[index(p)])
      out.adapter[index(p)] = LoraAdapter<T>{ad[index(p)]->B.cast<T>(), ad[index(p)]->A.cast<T>()};
  }
  out.alpha = c.alpha;
  out.beta = c.beta;
  require_representable(c, out);
  return out;
}

template <class T>
double projection_max_abs(const Problem<T>& problem, Projection p) {
  const Matrix<double> W = problem.effective_weight(p).template cast<double>();
  double m = 0;
  for (const auto& x : problem.X) m = std::max(m, (x.template cast<double>() * W).cwiseAbs().maxCoeff());
  return m;
}

template void validate_representable<float>(const GeneratorConfig&);
template void validate_representable<double>(const GeneratorConfig&);
template Problem<float> generate<float>(const GeneratorConfig&);
template Problem<double> generate<double>(const GeneratorConfig&);
template double projection_max_abs(const Problem<float>&, Projection);
template double projection_max_abs(const Problem<double>&, Projection);

}  // namespace lorafgc::lora
