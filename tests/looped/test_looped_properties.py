"""Property tests (python3-hypothesis) of the looped forward pass: random
prompts and weights of magnitudes 1e-3 to 1e3 over up to 40 loops either give a
finite Z that agrees with a numpy loop, or a NumericalError naming Z."""
import numpy as np
import pytest

import lorafgc

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

# Deterministic and without a database, so a run in CI is repeatable and writes nothing.
PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def looped_forward_numpy(Z, P, Q, loops):
    n = Z.shape[1] - 1
    Z = Z.copy()
    for _ in range(loops):
        keys = Z[:, :n]
        Z = Z - (P @ keys) @ (keys.T @ (Q @ Z)) / n
    return Z


@PROFILE
@given(d=st.integers(1, 5), n=st.integers(1, 12), loops=st.integers(0, 40), scale=st.floats(-3, 3),
       seed=st.integers(0, 2**32 - 1))
def test_looped_forward_refuses_or_agrees_with_numpy(d, n, loops, scale, seed):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((d + 1, n + 1)) * 10.0 ** scale
    P, Q = rng.standard_normal((d + 1, d + 1)) * 0.3, rng.standard_normal((d + 1, d + 1)) * 0.3
    with np.errstate(all="ignore"):
        expected = looped_forward_numpy(Z, P, Q, loops)
    try:
        got = lorafgc.looped.forward(Z, P, Q, loops)
    except lorafgc.NumericalError as e:
        assert "Z" in str(e)
        return
    assert np.isfinite(got).all()
    if np.isfinite(expected).all():
        scale_of = max(np.abs(expected).max(), 1e-300)
        # Both orders of evaluation round differently; the growth over the loops
        # bounds how far: a relative 1e-9 of the largest intermediate.
        assert np.abs(got - expected).max() <= 1e-9 * max(scale_of, np.abs(Z).max()) * (1 + loops) ** 2
