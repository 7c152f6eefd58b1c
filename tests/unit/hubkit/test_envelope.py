import pytest

from hubkit.envelope import Envelope, EnvelopeError


def _envelope(**kw):
    base = dict(type="order_placed", source="order", aggregate_id="o1", sequence=1, payload={"a": 1},
                correlation_id="c1", actor="alice")
    return Envelope(**{**base, **kw})


def test_envelope_round_trips_through_json():
    env = _envelope()
    again = Envelope.from_json(env.to_json())
    assert again == env and len(env.event_id) == 32


@pytest.mark.parametrize("raw, problem", [
    ("not json", "not JSON"),
    ("[1, 2]", "must be an object"),
    ('{"type": "x"}', "event_id"),
])
def test_invalid_envelopes_are_refused(raw, problem):
    with pytest.raises(EnvelopeError, match=problem):
        Envelope.from_json(raw)


def test_sequence_must_be_positive_and_an_integer():
    data = _envelope().to_dict()
    with pytest.raises(EnvelopeError):
        Envelope.from_dict({**data, "sequence": 0})
    with pytest.raises(EnvelopeError):
        Envelope.from_dict({**data, "sequence": True})
