"""Pure parts of the simulator: generated audio, overlap arithmetic, configuration checks."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_sim import SimConfig, max_overlap
from twilio_sim.audio import SyntheticAudio

WAV = SyntheticAudio("wav", duration_seconds=0, size_bytes=10_000)
MP3 = SyntheticAudio("mp3", duration_seconds=0, size_bytes=10_000)


@settings(max_examples=200, deadline=None)
@given(audio=st.sampled_from([WAV, MP3]), data=st.data())
def test_any_byte_range_matches_the_whole_file(audio, data):
    whole = audio.read_all()
    start = data.draw(st.integers(0, audio.size - 1))
    end = data.draw(st.integers(start, audio.size - 1))
    chunk_size = data.draw(st.integers(1, 5000))

    chunks = list(audio.iter_range(start, end, chunk_size=chunk_size))

    assert b"".join(chunks) == whole[start : end + 1]
    assert all(len(chunk) <= chunk_size for chunk in chunks)


def test_audio_size_follows_duration_when_not_given():
    assert SyntheticAudio("wav", duration_seconds=2).size == 44 + 2 * 16000
    assert SyntheticAudio("mp3", duration_seconds=2).size == (2 * 16000 // 417) * 417


def _call(start, end, to="+1", callback="http://x/status?run=1"):
    return {"created_at": start, "ended_at": end, "to": to, "status_callback": callback}


def test_max_overlap_counts_simultaneous_calls():
    calls = [_call(0, 10), _call(1, 5), _call(2, 3), _call(4, 6), _call(7, 8)]

    assert max_overlap(calls) == 3


def test_a_call_ending_as_another_starts_does_not_overlap_it():
    assert max_overlap([_call(0, 5), _call(5, 10), _call(10, 15)]) == 1


def test_a_call_still_alive_overlaps_everything_after_it():
    assert max_overlap([_call(0, None), _call(100, 101), _call(200, 201)]) == 2


def test_max_overlap_filters_by_run():
    calls = [_call(0, 10, to="+1"), _call(1, 10, to="+2", callback="http://x/status?run=2"), _call(2, 10, to="+3")]

    assert max_overlap(calls, callback_contains="run=1") == 2
    assert max_overlap(calls, to_numbers={"+2", "+3"}) == 2
    assert max_overlap(calls, to_numbers=set()) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"time_scale": 0},
        {"outcomes": {"exploded": 1}},
        {"outcomes": {"completed": 0}},
        {"callback_drop_rate": 1.5},
        {"talk_seconds": (1, 2, 3)},
        {"talk_seconds": -1},
        {"rate_limit_mode": "drop"},
        {"calls_per_second": 0},
        {"callback_fault_events": ["answered"]},
        {"recording_size_bytes": 10},
        {"outcomes_by_number": {"+1": "exploded"}},
        {"no_such_setting": True},
    ],
)
def test_invalid_configuration_is_refused(changes):
    with pytest.raises(ValueError):
        SimConfig().with_changes(**changes)


def test_json_lists_become_ranges_and_sets():
    config = SimConfig().with_changes(talk_seconds=[5, 30], callback_fault_events=["completed"])

    assert config.talk_seconds == (5, 30)
    assert config.callback_fault_events == frozenset({"completed"})
    assert config.as_json()["callback_fault_events"] == ["completed"]
