"""Multinomial logistic regression whose softmax runs, for each clip, over its corpus's classes.

A corpus labels its clips from its own class set: an URDU clip marked "neutral" was
only ever weighed against happy, sad and angry, never against calm or fear. A plain
softmax over the union of classes reads that clip as evidence *against* calm and fear,
which teaches the head what URDU lacks rather than what the clip sounds like. Here
each clip's loss is the cross-entropy over the classes its corpus honours (per-class
masking, the same policy as the BiGRU recipe's :func:`emorec.training.voice.multi.masked_loss`);
at prediction time the softmax runs over every class, since a user's clip has no corpus.

The objective matches scikit-learn's ``LogisticRegression`` (L2 on the weights, not the
intercepts): ``0.5 * ||W||^2 + C * sum_i w_i * loss_i``; with every class allowed it is
the same model. Fitted with L-BFGS (scipy) on the exact gradient, the objective divided by
the total sample weight.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin


def corpus_masks(corpus: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, y.max() + 1) booleans: clip i may be any class some clip of its corpus carries."""
    mask = np.zeros((len(y), int(y.max()) + 1), dtype=bool)
    for c in set(corpus.tolist()):
        rows = corpus == c
        mask[np.ix_(rows, sorted(set(y[rows].tolist())))] = True
    return mask


class MaskedLogisticRegression(ClassifierMixin, BaseEstimator):
    """scikit-learn-style estimator (``fit`` / ``predict_proba`` / ``classes_`` / ``coef_`` /
    ``intercept_``) that fits in a scikit-learn pipeline, so
    :func:`emorec.training.voice.fused.attach_head` exports it unchanged."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000, tol: float = 1e-5) -> None:
        self.C, self.max_iter, self.tol = C, max_iter, tol

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
            allowed: np.ndarray | None = None) -> "MaskedLogisticRegression":
        """``allowed``: (n, y.max() + 1) booleans, the classes each clip's loss runs over
        (default: all); a clip whose own label is not allowed is refused."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        self.classes_ = np.array(sorted(set(y.tolist())))
        col = np.searchsorted(self.classes_, y)
        n, dim = X.shape
        k = len(self.classes_)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        ok = np.ones((n, k), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)[:, self.classes_]
        if not ok[np.arange(n), col].all():
            raise ValueError("a clip's own label is outside its allowed classes")
        shift = np.where(ok, 0.0, -np.inf)
        scale = float(w.sum())  # the objective per unit of weight, as scikit-learn scales it, so tol is size-free
        onehot = np.zeros((n, k))
        onehot[np.arange(n), col] = 1.0

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[: dim * k].reshape(dim, k), theta[dim * k:]
            z = X @ W + b + shift
            top = z.max(1, keepdims=True)
            e = np.exp(z - top)
            total = e.sum(1, keepdims=True)
            loss = float(np.sum(w * ((top + np.log(total))[:, 0] - z[np.arange(n), col])))
            g = w[:, None] * (e / total - onehot)
            grad = np.concatenate([(X.T @ g + W / self.C).ravel(), g.sum(0)]) / scale
            return (loss + 0.5 * float(np.sum(W * W)) / self.C) / scale, grad

        res = minimize(objective, np.zeros(dim * k + k), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = int(res.nit)
        if not res.success:
            import warnings

            warnings.warn(f"MaskedLogisticRegression did not converge in {self.max_iter} iterations ({res.message}); "
                          "raise max_iter or standardise the inputs", RuntimeWarning, stacklevel=2)
        self.coef_ = res.x[: dim * k].reshape(dim, k).T.copy()
        self.intercept_ = res.x[dim * k:].copy()
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.decision_function(X)
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(1)]
