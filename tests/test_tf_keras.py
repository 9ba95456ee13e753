"""tf_keras (Keras 2) users: constraints, penalties, saving and the helpers.

Runs in its own environment (CI lane ``tf-keras``: ``pip install
".[tf-keras,test]"``, ``TF_USE_LEGACY_KERAS=1``), where ``tf.keras`` is
tf_keras; elsewhere every test here skips, saying why. The import hook that
registers the classes with tf_keras is tested on every lane.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap

import numpy as np
import pytest

from keras_kernel_constraints._core import registry
from tests.helpers import run_python

LEGACY = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
HAVE_TF_KERAS = importlib.util.find_spec("tf_keras") is not None
needs_tf_keras = pytest.mark.skipif(
    not (LEGACY and HAVE_TF_KERAS),
    reason="tf_keras lane only: needs tf_keras installed and TF_USE_LEGACY_KERAS=1",
)


def test_a_module_imported_later_is_registered_once_it_has_run(tmp_path, monkeypatch):
    (tmp_path / "late_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    hook = registry._AfterImport("late_module", lambda module: seen.append(module.VALUE))
    sys.meta_path.insert(0, hook)
    try:
        assert importlib.util.find_spec("late_module") is not None  # a probe: nothing runs
        assert seen == [] and hook in sys.meta_path
        import late_module  # noqa: F401

        assert seen == [1]
        assert hook not in sys.meta_path
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        sys.modules.pop("late_module", None)


@pytest.fixture(scope="module")
def tf_keras():
    import tensorflow as tf

    assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
    return tf.keras


def _model(K):
    from keras_kernel_constraints.constraints import NonNeg, SumTo
    from keras_kernel_constraints.regularizers import NonNegPenalty

    return K.Sequential(
        [
            K.Input((16, 1)),
            K.layers.Conv1D(
                3,
                5,
                kernel_constraint=SumTo(1.0, axis=(0, 1)),
                kernel_regularizer=NonNegPenalty(strength=0.1),
                name="fir",
            ),
            K.layers.DepthwiseConv1D(3, name="depthwise"),
            K.layers.Flatten(),
            K.layers.Dense(1, kernel_constraint=NonNeg(), name="head"),
        ]
    )


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16, 1)).astype("float32")
    return x, x[:, 3:6, 0].sum(axis=1, keepdims=True) - x[:, 9:10, 0]


@needs_tf_keras
def test_training_keeps_the_weights_in_their_sets_and_adds_the_penalty(tf_keras):
    model = _model(tf_keras)
    model.compile(tf_keras.optimizers.Adam(0.05), "mse")
    model.fit(*_data(), epochs=3, verbose=0)
    fir = model.get_layer("fir").kernel.numpy()
    np.testing.assert_allclose(fir.sum(axis=(0, 1)), 1.0, atol=1e-5)
    assert model.get_layer("head").kernel.numpy().min() >= 0.0
    assert len(model.losses) == 1


@needs_tf_keras
@pytest.mark.parametrize("importing", ["tf_keras first", "the package first"])
def test_a_saved_model_loads_in_a_fresh_process_without_custom_objects(
    tf_keras, tmp_path, importing
):
    model = _model(tf_keras)
    model.compile(tf_keras.optimizers.Adam(0.05), "mse")
    model.fit(*_data(), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    model.save(tmp_path / "savedmodel", save_format="tf")
    np.save(tmp_path / "fir.npy", model.get_layer("fir").kernel.numpy())
    first = {
        "tf_keras first": "import tf_keras\nimport keras_kernel_constraints",
        # tf.keras loads tf_keras on first use, after the package: the import hook
        "the package first": "import keras_kernel_constraints\nimport tensorflow as tf\n"
        "tf.keras.Sequential",
    }[importing]
    code = first + textwrap.dedent(
        """
        import sys
        import numpy as np
        import tensorflow as tf
        folder = sys.argv[1]
        for name in ("model.keras", "savedmodel"):
            model = tf.keras.models.load_model(f"{folder}/{name}")
            fir = model.get_layer("fir")
            assert type(fir.kernel_constraint).__name__ == "SumTo", fir.kernel_constraint
            assert type(fir.kernel_regularizer).__name__ == "NonNegPenalty"
            assert fir.kernel.constraint is fir.kernel_constraint
            np.testing.assert_array_equal(fir.kernel.numpy(), np.load(f"{folder}/fir.npy"))
            print(name, "loaded")
        """
    )
    out = run_python(code, str(tmp_path))  # inherits TF_USE_LEGACY_KERAS=1
    assert out.split() == ["model.keras", "loaded", "savedmodel", "loaded"]


@needs_tf_keras
def test_saving_does_not_warn_that_the_classes_are_foreign(tmp_path):
    # In a program of its own: pytest resets warning filters around each test,
    # dropping the one the package adds when tf_keras is imported.
    code = textwrap.dedent(
        """
        import sys, warnings
        warnings.simplefilter("error", UserWarning)
        import tensorflow as tf
        import keras_kernel_constraints
        from tests.test_tf_keras import _model
        _model(tf.keras).save(sys.argv[1] + "/model.keras")
        print("saved")
        """
    )
    assert run_python(code, str(tmp_path)).split() == ["saved"]


@needs_tf_keras
def test_attach_projects_at_once_and_fit_keeps_the_rules(tf_keras):
    from keras_kernel_constraints.constraints import Monotone, SumTo
    from keras_kernel_constraints.inspection import constraint_summary
    from keras_kernel_constraints.regularizers import NonNegPenalty
    from keras_kernel_constraints.training import ConstraintViolation, Rule, attach

    model = _model(tf_keras)
    model.compile(tf_keras.optimizers.Adam(0.05), "mse")
    model.fit(*_data(), epochs=1, verbose=0)
    changed = attach(
        model,
        [
            Rule(
                "depthwise",
                "depthwise_kernel",
                SumTo(1.0, axis="units"),
                NonNegPenalty(strength=0.1),
            ),
            Rule("head", "kernel", Monotone(axis=0)),
        ],
    )
    assert [v.name for v in changed] == ["depthwise/depthwise_kernel:0", "head/kernel:0"]
    depthwise = model.get_layer("depthwise")
    # One group per channel, projected right away.
    np.testing.assert_allclose(depthwise.depthwise_kernel.numpy().sum(axis=0), 1.0, atol=1e-5)
    assert np.all(np.diff(model.get_layer("head").kernel.numpy()[:, 0]) >= 0)
    assert len(model.losses) == 2
    rows = constraint_summary(model, print_fn=None)
    assert [(r.layer, r.weight, r.role) for r in rows] == [
        ("fir", "kernel", "constraint"),
        ("fir", "kernel", "regularizer"),
        ("depthwise", "depthwise_kernel", "constraint"),
        ("depthwise", "depthwise_kernel", "regularizer"),
        ("head", "kernel", "constraint"),
    ]
    assert rows[2].groups == "3 groups of 3: one per output channel"
    history = model.fit(*_data(), epochs=2, verbose=0, callbacks=[ConstraintViolation()])
    assert len(history.history["violation/max"]) == 2
    assert max(history.history["violation/max"]) < 1e-6  # float32 rounding of a re-projection
    assert "violation/depthwise/depthwise_kernel" in history.history
    np.testing.assert_allclose(depthwise.depthwise_kernel.numpy().sum(axis=0), 1.0, atol=1e-5)
    assert np.all(np.diff(model.get_layer("head").kernel.numpy()[:, 0]) >= -1e-6)


@needs_tf_keras
def test_attach_refuses_a_second_penalty_it_could_not_replace(tf_keras):
    from keras_kernel_constraints.regularizers import L2BallPenalty
    from keras_kernel_constraints.training import Rule, attach

    model = _model(tf_keras)
    with pytest.raises(ValueError, match=r"Rule 0 on fir/kernel .*tf_keras keeps it among"):
        attach(model, Rule("fir", "kernel", regularizer=L2BallPenalty(strength=0.1)))
    assert len(model.losses) == 1


@needs_tf_keras
def test_parametrizations_refuse_a_tf_keras_layer_and_model_clearly(tf_keras):
    from keras_kernel_constraints.parametrizations import Parametrized, SumTo
    from keras_kernel_constraints.training import Rule, parametrize

    with pytest.raises(ValueError, match=r"got a tf_keras \(Keras 2\) layer.*use the constraints"):
        Parametrized(tf_keras.layers.Dense(2), {"kernel": SumTo(1.0)})
    with pytest.raises(ValueError, match=r"got a tf_keras \(Keras 2\) model"):
        parametrize(_model(tf_keras), Rule("fir", parametrization=SumTo(1.0)))


@needs_tf_keras
def test_project_now_on_a_tf_keras_model(tf_keras):
    from keras_kernel_constraints.training import project_now

    model = _model(tf_keras)
    model.get_layer("head").kernel.assign(-np.ones((30, 1), "float32"))
    projected = project_now(model)
    assert [v.name for v in projected] == ["fir/kernel:0", "head/kernel:0"]
    assert model.get_layer("head").kernel.numpy().min() == 0.0


@needs_tf_keras
def test_projected_ema_keeps_a_box_under_tf_keras_ema(tf_keras):
    from keras_kernel_constraints.constraints import Box
    from keras_kernel_constraints.training import ProjectedEMA

    model = tf_keras.Sequential(
        [tf_keras.Input((3,)), tf_keras.layers.Dense(2, kernel_constraint=Box(0.0, 0.1))]
    )
    model.compile(tf_keras.optimizers.Adam(0.5, use_ema=True), "mse")
    x = np.ones((8, 3), "float32")
    model.fit(x, 5 * np.ones((8, 2), "float32"), epochs=3, verbose=0, callbacks=[ProjectedEMA()])
    kernel = model.layers[0].kernel.numpy()
    assert kernel.min() >= 0.0 and kernel.max() <= 0.1 + 1e-7


@needs_tf_keras
def test_mixed_precision_attach_sets_the_constraint_the_optimizer_reads(tf_keras):
    from keras_kernel_constraints.constraints import NonNeg
    from keras_kernel_constraints.training import Rule, attach

    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="head")])
        attach(model, Rule("head", "kernel", NonNeg()))
        model.compile(tf_keras.optimizers.SGD(1.0), "mse")
        model.fit(np.ones((8, 3), "float32"), -np.ones((8, 2), "float32"), verbose=0)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    assert model.layers[0].kernel.numpy().min() >= 0.0


@needs_tf_keras
def test_attach_under_a_distribution_strategy_sets_the_constraint_it_reads(tf_keras):
    import tensorflow as tf

    from keras_kernel_constraints.constraints import NonNeg
    from keras_kernel_constraints.training import Rule, attach

    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="head")])
        model.compile(tf_keras.optimizers.SGD(1.0), "mse")
    attach(model, Rule("head", "kernel", NonNeg()))
    model.fit(np.ones((8, 3), "float32"), -np.ones((8, 2), "float32"), verbose=0)
    assert model.layers[0].kernel.numpy().min() >= 0.0
