"""A 200 MB recording goes from the simulator to storage without growing the worker."""

import hashlib
import tracemalloc

import psutil
import pytest

from recordings import downloads, services
from tests.plugins.recordings import recording_create, sim_recording

SIZE = 200 * 1024 * 1024


@pytest.mark.django_db
@pytest.mark.twilio_sim(recording_size_bytes=SIZE)
def test_downloading_200_mb_keeps_memory_flat(business, media_root, twilio_sim, settings):
    settings.RECORDING_HEARTBEAT_SECONDS = 0.5
    call_sid, recording_sid = sim_recording(twilio_sim)
    recording = recording_create(business=business, call_sid=call_sid, recording_sid=recording_sid)
    run = services.recording_run_start(recording=recording)
    process = psutil.Process()
    rss_before = process.memory_info().rss

    tracemalloc.start()
    try:
        assert downloads.recording_run_execute(run_id=run.pk) == "succeeded"
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = process.memory_info().rss - rss_before

    recording.refresh_from_db()
    # MP3 frames are 417 bytes: the simulator rounds the size down to whole frames.
    assert SIZE - 417 < recording.size_bytes <= SIZE
    digest = hashlib.sha256()
    with recording.file.open("rb") as stored:
        for block in iter(lambda: stored.read(1024 * 1024), b""):
            digest.update(block)
    assert digest.hexdigest() == recording.checksum_sha256
    # Holding the recording (or any large share of it) would cost hundreds of MB here.
    print(f"peak Python allocations {peak / 2**20:.2f} MB, RSS growth {rss_growth / 2**20:.1f} MB")
    assert peak < 8 * 1024 * 1024, f"Python allocations peaked at {peak / 2**20:.1f} MB"
    assert rss_growth < 40 * 1024 * 1024, f"resident memory grew by {rss_growth / 2**20:.1f} MB"
