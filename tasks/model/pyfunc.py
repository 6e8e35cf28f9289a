"""The registered Gameline model, as MLflow 'models from code' (nothing is pickled).

MLflow runs this file when the model is logged and when it is loaded, so it only defines the
model and hands it to `set_model`. The artifacts are LightGBM's native text model and a JSON
recipe (logistic coefficients, calibration, blend weight, the margin and total models,
features, chosen family).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class GamePredictor(PythonModel):
    """P(home win) for games given their home__*/away__* features and the neutral flag."""

    def load_context(self, context: Any) -> None:
        from gameline.tasks.model.train import FoldModels

        recipe = json.loads(Path(context.artifacts["recipe"]).read_text())
        booster = context.artifacts.get("booster")
        models = dict(recipe["models"])
        models["lightgbm"] = Path(booster).read_text() if booster else None
        self.models = FoldModels.model_validate(models)
        self.features: list[str] = recipe["features"]
        self.family: str = recipe["family"]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: Any = None
    ) -> np.ndarray | pd.DataFrame:
        """P(home win) per game; with `params={"outputs": "all"}` a frame of it (`p_home`) and,
        when the version has margin and total models, the fair spread and total and P(cover),
        P(over) and the pushes at the lines the input carries (`home_spread`, `total_line`)."""
        from gameline.tasks.model.targets import price_lines
        from gameline.tasks.model.train import predict_models

        p_home = predict_models(self.models, model_input, self.features)[
            f"p_{self.family}"
        ].to_numpy()
        if (params or {}).get("outputs") != "all":
            return p_home
        out = pd.DataFrame({"p_home": p_home}, index=model_input.index)
        if self.models.lines is not None:
            priced = price_lines(self.models.lines, model_input, self.features, self.family)
            out = pd.concat([out, priced], axis=1)
        return out


mlflow.models.set_model(GamePredictor())
