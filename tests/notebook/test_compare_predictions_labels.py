"""`compare_predictions` on integer class labels, as scikit-learn classifiers predict them
(`int64` arrays): a flip matrix indexed by the classes themselves, the agreement and drift of
the analysis functions. Floats stay scores; `labels=` overrides the guess."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from modelcanary import analysis
from modelcanary.analysis import Predictions
from modelcanary.notebook import compare_predictions


def _sklearn_predictions() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    champion = LogisticRegression(max_iter=300).fit(x, y).predict(x)
    challenger = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y).predict(x)
    return champion, challenger


def test_integer_classes_give_the_flip_matrix() -> None:
    champ, chal = _sklearn_predictions()
    assert champ.dtype.kind == "i"  # what a fitted sklearn classifier returns
    cmp = compare_predictions(champ, chal)
    assert not cmp.flips.empty
    assert list(cmp.flips.index) == [0, 1, 2]  # the classes, not their text
    for a in (0, 1, 2):
        for b in (0, 1, 2):
            found = int(cmp.flips.loc[a, b]) if b in cmp.flips.columns else 0
            assert found == int(np.sum((champ == a) & (chal == b)))
    assert int(cmp.flips.to_numpy().sum()) == len(champ) == cmp.pairs
    assert cmp.agreement == pytest.approx(float(np.mean(champ == chal)))
    for method in ("psi", "ks", "js", "wasserstein"):  # same numbers as the analysis
        assert cmp.drift[method] == analysis.drift(
            Predictions(champ, "champion"), Predictions(chal), method
        )
    assert "<table" in cmp._repr_html_()


def test_series_booleans_and_overrides() -> None:
    champ, chal = _sklearn_predictions()
    from_series = compare_predictions(pd.Series(champ), pd.Series(chal))
    assert from_series.flips.equals(compare_predictions(champ, chal).flips)
    flags = compare_predictions([True, True, False], [True, False, False])
    assert flags.flips.loc[True, False] == 1 and flags.agreement == pytest.approx(2 / 3)
    scores = compare_predictions(champ.astype(float), chal.astype(float))
    assert scores.flips.empty  # floats are scores unless told otherwise
    forced = compare_predictions(champ.astype(float), chal.astype(float), labels=True)
    assert int(forced.flips.to_numpy().sum()) == len(champ)
    tolerant = compare_predictions(champ, chal, tolerance=1.0)  # a tolerance: scores
    assert tolerant.flips.empty
    assert tolerant.agreement == pytest.approx(float(np.mean(np.abs(champ - chal) <= 1.0)))
