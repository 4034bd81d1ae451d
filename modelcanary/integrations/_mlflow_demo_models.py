"""A deliberately faulty challenger for the demo: slower, and failing on some inputs.

It must live in an importable module: MLflow pickles the model class by reference, and the
model server process imports it from here to load the model.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd  # MLflow resolves the predict() type hint below when the class is made

_Base: Any = object
try:  # the class derives from PythonModel where mlflow is installed (demo, model server)
    import mlflow.pyfunc

    _Base = mlflow.pyfunc.PythonModel
except ImportError:  # pragma: no cover - modelcanary without the mlflow extra
    pass


class FaultyModel(_Base):  # type: ignore[misc]
    """Wraps a scikit-learn model: +``delay_ms`` per call, and raises for large tumours."""

    def __init__(self, model: Any, feature: str, limit: float, delay_ms: float) -> None:
        self.model = model
        self.feature = feature
        self.limit = limit
        self.delay_ms = delay_ms

    # MLflow reads predict()'s type hints as the model signature: a DataFrame in, as served
    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        time.sleep(self.delay_ms / 1000)
        if (model_input[self.feature] > self.limit).any():
            raise ValueError(f"{self.feature} above {self.limit}: feature pipeline overflow")
        return self.model.predict(model_input)
