"""Property tests (python3-hypothesis) of the network's loss and gradient:
parameters and inputs of magnitudes up to 1e300 give finite values or a
ValueError / NumericalError naming w, X or Y."""
import numpy as np
import pytest

import lorafgc

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

# Deterministic and without a database, so a run in CI is repeatable and writes nothing.
PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@PROFILE
@given(N=st.integers(1, 3), K=st.integers(1, 4), d=st.integers(1, 4), n=st.integers(1, 8),
       w_scale=st.floats(-2, 200), x_scale=st.floats(-2, 200), seed=st.integers(0, 2**32 - 1),
       activation=st.sampled_from(["softplus", "sigmoid"]))
def test_icl_loss_and_gradient_refuse_or_are_finite(N, K, d, n, w_scale, x_scale, seed, activation):
    rng = np.random.default_rng(seed)
    count = d * K + (N - 2) * K * K + K if N >= 2 else d
    w = rng.standard_normal(count) * 10.0 ** min(w_scale, 300)
    X = rng.standard_normal((n, d)) * 10.0 ** min(x_scale, 300)
    y = rng.standard_normal(n)
    for fn in (lorafgc.icl.loss, lorafgc.icl.gradient):
        try:
            value = fn(w, X, y, N=N, K=K, activation=activation)
        except (ValueError, lorafgc.NumericalError) as e:
            assert any(name in str(e) for name in ("w", "X", "Y")), str(e)
            continue
        assert np.isfinite(value).all()
