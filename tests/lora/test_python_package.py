"""The Python package: one submodule per workload, the old top-level names as
aliases of the same objects, and the registry's fields."""
import os
import lorafgc

ALIASES = {
    "lora_gradients": ("lora", "gradients"), "generate": ("lora", "generate"), "algorithms": ("lora", "algorithms"),
    "train_looped": ("looped", "train"), "looped_gd_reference": ("looped", "gd_reference"),
    "looped_test_losses": ("looped", "test_losses"), "looped_forward": ("looped", "forward"),
    "anisotropic_covariance": ("looped", "anisotropic_covariance"), "icl_predict": ("icl", "predict"),
    "icl_loss": ("icl", "loss"), "icl_gradient": ("icl", "gradient"), "icl_projected_gd": ("icl", "projected_gd"),
    "IcgdTransformer": ("icl", "IcgdTransformer"),
}


def test_submodules_import_and_old_names_are_aliases():
    import lorafgc.icl
    import lorafgc.looped
    import lorafgc.lora  # noqa: F401
    for old, (module, name) in ALIASES.items():
        assert getattr(lorafgc, old) is getattr(getattr(lorafgc, module), name), old
    assert set(lorafgc.__all__) >= set(ALIASES) | {"lora", "looped", "icl", "NumericalError"}


def test_registry_fields_and_default_variants():
    table = lorafgc.lora.algorithms()
    assert table[0]["oracle"] and sum(a["oracle"] for a in table) == 1
    for a in table:
        assert {"name", "description", "exact", "oracle", "variants", "options"} <= set(a)
        assert a["variants"] and all(v.split(":")[0] == a["name"] for v in a["variants"])
        for option, (default, help_text) in a["options"].items():
            assert default != "" and help_text


def test_system_info_names_cpu_and_vector_width():
    info = lorafgc.system_info()
    assert {"cpu", "vector_isa", "blas_config", "omp_threads", "blas_threads", "OPENBLAS_CORETYPE", "build",
            "heap"} <= set(info)
    # Importing the module keeps freed buffers for the next call (docs/heap.md).
    assert info["heap"].startswith("retained") or os.environ.get("LORAFGC_HEAP") == "system"
    assert isinstance(info["omp_threads"], int) and info["omp_threads"] >= 1
