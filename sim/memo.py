"""The offline agent model and the triage classifier with memos, for runs that replay the same calls often.

Under several seeds most requests and turns repeat word for word, and both are deterministic: a repeat gets
the answer it got before. Never used outside the simulator.
"""

from __future__ import annotations

import json

import numpy as np

from voicerouter.agent import AgentSpec
from voicerouter.events import Tier
from voicerouter.providers.base import ChatMessage, ChatRequest
from voicerouter.providers.offline.model import Completion, OfflineAgentModel
from voicerouter.router.classifier import ModelInfo, Prediction, TriageClassifier
from voicerouter.router.features import TurnContext

MEMO_ENTRIES = 50_000  # about 2 KB of keys each at most; cleared when full

MessageKey = tuple[str, str, str | None, str | None, tuple[tuple[str, str, str], ...]]


def _message_key(message: ChatMessage) -> MessageKey:
    calls = tuple((c.id, c.name, json.dumps(c.args, sort_keys=True)) for c in message.tool_calls)
    return (message.role, message.content, message.tool_call_id, message.name, calls)


class MemoisedOfflineModel(OfflineAgentModel):
    """`complete` answers a request it has seen from its memo; the key is all the model reads."""

    def __init__(self, agent: AgentSpec) -> None:
        super().__init__(agent)
        self._memo: dict[object, Completion] = {}
        self.hits = 0

    def complete(self, request: ChatRequest) -> Completion:
        key = (
            request.system,
            tuple(spec.name for spec in request.tools),
            tuple(_message_key(m) for m in request.messages),
        )
        hit = self._memo.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        if len(self._memo) >= MEMO_ENTRIES:
            self._memo.clear()
        completion = self._memo[key] = super().complete(request)
        return completion


class MemoisedClassifier(TriageClassifier):
    """The triage classifier with a memo of (text, context): a replayed turn is classified once a run."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, classes: tuple[Tier, ...], info: ModelInfo):
        super().__init__(weights, bias, classes, info)
        self._memo: dict[tuple[str, TurnContext | None], Prediction] = {}

    def predict(self, text: str, context: TurnContext | None = None, *, explain: bool = False) -> Prediction:
        if explain:
            return super().predict(text, context, explain=True)
        key = (text, context)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            hit = self._memo[key] = super().predict(text, context)
        return hit
