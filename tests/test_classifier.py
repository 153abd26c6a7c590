"""The offline tier classifier: shipped weights, held-out accuracy, context, determinism, load errors."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voicerouter.router.classifier import DEFAULT_WEIGHTS_PATH, ClassifierError, Prediction, TriageClassifier
from voicerouter.router.dataset import UTTERANCES_PATH, DatasetError, load_utterances
from voicerouter.router.features import DIMENSION, TurnContext, extract_features, normalize_tokens


@pytest.fixture(scope="module")
def model() -> TriageClassifier:
    return TriageClassifier.load()


def test_shipped_weights_load_and_are_small(model: TriageClassifier) -> None:
    assert DEFAULT_WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    assert sorted(model.classes) == ["reasoning", "speech", "triage"]
    assert model.info.temperature > 0
    assert model.info.meta["n_train"] > 0


def test_opening_hours_question_is_triage(model: TriageClassifier) -> None:
    assert model.predict("what time do you open on saturday").tier == "triage"


def test_thanks_and_goodbye_is_speech(model: TriageClassifier) -> None:
    assert model.predict("thanks so much bye").tier == "speech"


def test_multi_constraint_rescheduling_is_reasoning(model: TriageClassifier) -> None:
    text = (
        "um can you move my appointment and my son's to the same afternoon but only after three "
        "and if that's not possible then the week after but not on a monday"
    )
    assert model.predict(text).tier == "reasoning"


def test_conditional_request_after_a_self_introduction_is_reasoning(model: TriageClassifier) -> None:
    """Regression: an opener that names the caller used to pull a conditional booking down to triage."""
    text = (
        "hi, this is Wilma Stroud, please move my visit to friday, but only if the doctor is in that "
        "afternoon, otherwise leave it"
    )
    assert model.predict(text).tier == "reasoning"


def test_long_chatty_single_request_stays_triage(model: TriageClassifier) -> None:
    text = (
        "hey so my laptop fan is a bit loud lately, nothing urgent, could you just log a ticket for "
        "someone to look at it"
    )
    assert model.predict(text).tier == "triage"


def test_a_bare_name_answering_a_question_after_a_reasoning_turn_is_triage(model: TriageClassifier) -> None:
    context = TurnContext(previous_tier="reasoning", agent_asked_question=True, turn_index=3)
    assert model.predict("Odalys Ferreira-Brandt", context).tier == "triage"


def test_discourse_openers_do_not_hide_the_question_behind_them() -> None:
    names = extract_features("okay and uh where are you exactly").names
    assert "wh_question" in names
    assert "core:where" in names
    assert "core:okay" not in extract_features("okay").names


def test_a_request_after_a_story_is_marked_as_such() -> None:
    story = extract_features(
        "my printer worked yesterday but today I get an error and I already restarted it, can you help"
    ).names
    plain = extract_features("can you help me with my printer").names
    assert "story_then_request" in story
    assert "late_request" not in plain and "story_then_request" not in plain


def test_held_out_accuracy_is_at_least_nine_in_ten(model: TriageClassifier) -> None:
    rows = load_utterances(split="test")
    correct = sum(model.predict(r.text, r.turn_context()).tier == r.tier for r in rows)
    assert len(rows) >= 140
    assert correct / len(rows) >= 0.90, f"held-out accuracy {correct}/{len(rows)}"


def test_yes_after_an_agent_question_is_speech(model: TriageClassifier) -> None:
    assert model.predict("yes", TurnContext(agent_asked_question=True, turn_index=3)).tier == "speech"


def test_spoken_ticket_number_for_a_pending_ticket_slot_is_triage(model: TriageClassifier) -> None:
    prediction = model.predict(
        "four five nine one", TurnContext(pending_slot="ticket_id", agent_asked_question=True)
    )
    assert prediction.tier == "triage"


def test_pending_slot_raises_confidence_in_a_bare_value(model: TriageClassifier) -> None:
    bare = model.predict("kowalczyk")
    asked = model.predict("kowalczyk", TurnContext(pending_slot="name", agent_asked_question=True))
    assert asked.probabilities["triage"] > bare.probabilities["triage"]


def test_a_follow_up_leans_on_the_previous_tier(model: TriageClassifier) -> None:
    after_reasoning = model.predict(
        "what about next tuesday", TurnContext(previous_tier="reasoning", turn_index=5)
    )
    after_triage = model.predict("what about next tuesday", TurnContext(previous_tier="triage", turn_index=5))
    assert after_reasoning.probabilities["reasoning"] > after_triage.probabilities["reasoning"]


def test_prediction_is_a_calibrated_distribution(model: TriageClassifier) -> None:
    prediction = model.predict("why does my vpn drop only when i dock the laptop")
    assert math.isclose(sum(prediction.probabilities.values()), 1.0, rel_tol=1e-9)
    assert prediction.confidence == max(prediction.probabilities.values())
    assert prediction.probabilities[prediction.tier] == prediction.confidence
    assert prediction.top_features is None


def test_explain_names_the_features_behind_the_tier(model: TriageClassifier) -> None:
    prediction = model.predict("why does that keep happening", explain=True)
    assert prediction.tier == "reasoning"
    assert prediction.top_features
    assert all(weight > 0 for _, weight in prediction.top_features)


def test_predictions_are_deterministic_across_loads(model: TriageClassifier) -> None:
    again = TriageClassifier.load()
    context = TurnContext(previous_tier="triage", retries=1)
    for text in ("okay thanks that's everything", "is email down", "which one is cheaper"):
        assert model.predict(text, context) == again.predict(text, context)


def test_features_are_deterministic_and_in_range() -> None:
    context = TurnContext(pending_slot="date", agent_asked_question=True)
    first = extract_features("uh the fifth no sorry the sixth", context)
    second = extract_features("uh the fifth no sorry the sixth", context)
    assert first == second
    assert all(0 <= i < DIMENSION for i in first.indices)
    assert len(first.indices) == len(first.values) == len(first.names)
    assert extract_features("Is EMAIL down?!").indices == extract_features("is email down").indices


def test_feature_indices_do_not_depend_on_the_process_hash_seed() -> None:
    """A feature space built on Python's salted hash() would change between processes and void the weights."""
    code = (
        "from voicerouter.router.features import extract_features, TurnContext;"
        "f = extract_features('status of ticket four five nine one', TurnContext(pending_slot='x'));"
        "print(list(f.indices))"
    )
    root = Path(__file__).resolve().parents[1]
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    here = extract_features("status of ticket four five nine one", TurnContext(pending_slot="x"))
    assert outputs == {f"{list(here.indices)}\n"}


def test_empty_turn_still_gets_a_prediction(model: TriageClassifier) -> None:
    assert isinstance(model.predict(""), Prediction)


def test_normalisation_splits_contractions_and_masks_digits() -> None:
    assert normalize_tokens("Why's it DOING that? Ticket 4591, o'connor") == [
        "why",
        "'s",
        "it",
        "doing",
        "that",
        "ticket",
        "<num>",
        "o'connor",
    ]
    assert normalize_tokens("I can't log in") == ["i", "can", "not", "log", "in"]


def test_turn_context_rejects_an_unknown_tier() -> None:
    with pytest.raises(ValueError, match="previous_tier"):
        TurnContext(previous_tier="premium")


def test_missing_weights_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.npz"
    with pytest.raises(ClassifierError, match=re.escape(str(path))):
        TriageClassifier.load(path)


def test_corrupt_weights_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(ClassifierError, match=re.escape(str(path))):
        TriageClassifier.load(path)


def test_weights_for_another_feature_version_are_refused(tmp_path: Path) -> None:
    with np.load(DEFAULT_WEIGHTS_PATH, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["feature_version"] = np.array(int(arrays["feature_version"]) + 1)
    path = tmp_path / "stale.npz"
    np.savez(path, **arrays)
    with pytest.raises(ClassifierError, match="feature version"):
        TriageClassifier.load(path)


def test_weights_with_a_wrong_shape_are_refused(tmp_path: Path) -> None:
    with np.load(DEFAULT_WEIGHTS_PATH, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["weights"] = arrays["weights"][:100]
    path = tmp_path / "short.npz"
    np.savez(path, **arrays)
    with pytest.raises(ClassifierError, match=re.escape(str(path))):
        TriageClassifier.load(path)


def test_shipped_data_is_large_balanced_and_split() -> None:
    rows = load_utterances()
    assert len(rows) >= 700
    share_test = sum(r.split == "test" for r in rows) / len(rows)
    assert 0.15 <= share_test <= 0.3
    for tier in ("speech", "triage", "reasoning"):
        assert sum(r.tier == tier for r in rows) / len(rows) > 0.25
    for agent in ("clinic", "helpdesk"):
        assert sum(r.agent == agent for r in rows) / len(rows) > 0.25


def test_test_split_shares_no_phrasing_with_train() -> None:
    def grams(text: str) -> set[str]:
        padded = " " + " ".join(normalize_tokens(text)) + " "
        return {padded[i : i + 4] for i in range(len(padded) - 3)}

    train = [grams(r.text) for r in load_utterances(split="train")]
    for row in load_utterances(split="test"):
        mine = grams(row.text)
        closest = max(len(mine & other) / len(mine | other) for other in train)
        assert closest < 0.7, f"test line too close to a train line: {row.text!r}"


def test_a_malformed_data_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "utterances.jsonl"
    good = json.dumps({"text": "hi", "tier": "speech", "agent": "any", "split": "train"})
    bad = json.dumps({"text": "hi", "tier": "premium", "agent": "any", "split": "train"})
    path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=re.escape(f"{path}:2: tier")):
        load_utterances(path)


def test_shipped_data_path_is_next_to_the_module() -> None:
    assert UTTERANCES_PATH.parent == DEFAULT_WEIGHTS_PATH.parent
