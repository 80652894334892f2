"""Text classification by language-model likelihood: one trained LM per class, Bayes' rule on top.

    log p(class | text) = log p(text | class LM) + log prior(class) - log Z

Each class LM scores the text with the `language_model` predictor (the same tokenisation, start and
end tokens as its training data). For the comparison to be fair the class LMs should share their
vocabulary (train them with `vocabulary: {type: "from_files", directory: ...}`): an LM with a smaller
vocabulary gives its OOV token the mass of every word it lacks.
"""
import math
from typing import Dict, List, Optional

from lmlab.common.errors import InputError
from lmlab.predictors.language_model import LanguageModelPredictor
from lmlab.predictors.predictor import JsonDict


class LanguageModelClassifier:
    """Scores sentences under several class LMs and picks the most likely class.

    Parameters
        predictors: {class name: LanguageModelPredictor}, at least two.
        priors: {class name: probability} (default uniform); must cover every class and be positive.
    Inputs
        JSON objects `{"sentence": str}` (the `language_model` predictor's input rules apply).
    Outputs
        `{"label", "log_probabilities": {class: log p(text | class)}, "probabilities": {class: posterior}}`
        or `{"error": ...}` for an invalid input.
    """

    def __init__(self, predictors: Dict[str, LanguageModelPredictor],
                 priors: Optional[Dict[str, float]] = None) -> None:
        if len(predictors) < 2:
            raise InputError(f"need at least two classes, found {len(predictors)}")
        priors = priors or {name: 1.0 / len(predictors) for name in predictors}
        if set(priors) != set(predictors):
            raise InputError(f"priors must name exactly the classes {sorted(predictors)}, found {sorted(priors)}")
        if any(p <= 0 for p in priors.values()):
            raise InputError("priors must be positive")
        total = sum(priors.values())
        self.predictors = predictors
        self.log_priors = {name: math.log(p / total) for name, p in priors.items()}

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        outputs: List[Optional[JsonDict]] = [None] * len(inputs)
        valid = []
        for index, item in enumerate(inputs):
            extra = sorted(set(item) - {"sentence"}) if isinstance(item, dict) else []
            if extra:  # other fields would change what the class LMs compute
                outputs[index] = {"error": f'unknown field "{extra[0]}" (classification takes only "sentence")'}
            else:
                valid.append(index)
        requests = [{**inputs[i], "next_token": False} if isinstance(inputs[i], dict) else inputs[i] for i in valid]
        per_class = {name: predictor.predict_batch_json(requests) for name, predictor in self.predictors.items()}
        for position, index in enumerate(valid):
            answers = {name: results[position] for name, results in per_class.items()}
            error = next((a["error"] for a in answers.values() if "error" in a), None)
            if error is not None:
                outputs[index] = {"error": error}
                continue
            log_likelihoods = {name: a["log_probability"] for name, a in answers.items()}
            joint = {name: ll + self.log_priors[name] for name, ll in log_likelihoods.items()}
            top = max(joint.values())
            normaliser = top + math.log(sum(math.exp(v - top) for v in joint.values()))
            outputs[index] = {"label": max(joint, key=joint.__getitem__), "log_probabilities": log_likelihoods,
                              "probabilities": {name: math.exp(v - normaliser) for name, v in joint.items()}}
        return outputs  # type: ignore[return-value]
