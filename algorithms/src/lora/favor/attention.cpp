// favor's attention on Q, K, V: FAVOR+ features scaled to the certified range,
// through the chained low-rank attention.
#include "lora/common/certified_range.hpp"
#include "lora/favor/favor.hpp"
#include "lora/favor/favor_features.hpp"
#include "lora/poly/chained_attention.hpp"

namespace lorafgc::lora {

namespace {

// The forward's and the backward's shared plan: the same seed gives the same features.
template <class T, class IO, class Run>
void with_features(const AttentionShape& s, const IO& io, const FavorConfig& c, Run&& run) {
  const detail::CertifiedRange range = detail::certified_range(detail::attention_rows(s, io.q, io.k, c.centre),
                                                               s.scale, {c.centre, c.range_rows});
  const detail::FavorFeatures<T> features(detail::favor_directions(s.head_dim, c.features, c.seed, c.orthogonal),
                                          range.T_used);
  run(detail::ChainedAttention<T>{&range, &features, static_cast<Eigen::Index>(c.block_rows), c.threads, "favor"});
  if (!io.info) return;
  detail::report_attention_range(*io.info, range, range.T_used, static_cast<double>(c.features));
  (*io.info)["seed"] = static_cast<double>(c.seed);
}

}  // namespace

template <class T>
void favor_attention(const AttentionShape& s, const AttentionForwardIO<T>& io, const FavorConfig& c) {
  with_features<T>(s, io, c, [&](const auto& a) { detail::chained_attention_forward(s, io, a); });
}

template <class T>
void favor_attention(const AttentionShape& s, const AttentionBackwardIO<T>& io, const FavorConfig& c) {
  with_features<T>(s, io, c, [&](const auto& a) { detail::chained_attention_backward(s, io, a); });
}

template void favor_attention(const AttentionShape&, const AttentionForwardIO<float>&, const FavorConfig&);
template void favor_attention(const AttentionShape&, const AttentionForwardIO<double>&, const FavorConfig&);
template void favor_attention(const AttentionShape&, const AttentionBackwardIO<float>&, const FavorConfig&);
template void favor_attention(const AttentionShape&, const AttentionBackwardIO<double>&, const FavorConfig&);

}  // namespace lorafgc::lora
