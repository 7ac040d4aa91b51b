"""The dialer yields to the web tier: dials are spaced while the host's CPUs are saturated."""

import pytest

from callcenter.ops import cpu_pressure
from callcenter.ops.cpu_pressure import CpuPressure, DialSpacing
from outbound import services
from outbound.services import dispatch
from tests.outbound.test_dispatch import start_run


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now


class PressureFile:
    """A /proc/pressure/cpu whose "some" total grows by the share of time the host is
    saturated: the share given to advance(), also while a dial sleeps (sleep)."""

    def __init__(self, tmp_path, clock: Clock, avg10: float = 0.0):
        self.path = tmp_path / "cpu"
        self.clock = clock
        self.total = 5_000_000
        self.avg10 = avg10
        self.share = avg10 / 100
        self.write()

    def write(self) -> None:
        self.path.write_text(
            f"some avg10={self.avg10:.2f} avg60=0.00 avg300=0.00 total={self.total}\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        )

    def advance(self, seconds: float, *, share: float) -> None:
        self.share = share
        self.clock.now += seconds
        self.total += int(seconds * share * 1e6)
        self.write()

    def sleep(self, seconds: float) -> None:
        self.clock.slept.append(seconds)
        self.advance(seconds, share=self.share)


def spacing_reading(kernel: PressureFile) -> DialSpacing:
    return DialSpacing(
        pressure=CpuPressure(path=str(kernel.path), clock=kernel.clock), clock=kernel.clock, sleep=kernel.sleep
    )


def test_pressure_is_the_share_of_a_window_in_which_a_task_waited_for_a_cpu(tmp_path):
    clock = Clock()
    kernel = PressureFile(tmp_path, clock, avg10=37.5)
    pressure = CpuPressure(path=str(kernel.path), clock=clock)

    assert pressure.window() == pytest.approx(0.375)  # no window yet: the kernel's 10 s average
    kernel.advance(0.1, share=0.9)
    assert pressure.window() is None  # shorter than a window: nothing new to say
    kernel.advance(0.2, share=0.9)
    assert pressure.window() == pytest.approx(0.9, abs=0.01)
    kernel.advance(1.0, share=0.2)
    assert pressure.window() == pytest.approx(0.2, abs=0.01)


def test_without_pressure_information_nothing_is_held(tmp_path):
    clock = Clock()
    absent = CpuPressure(path=str(tmp_path / "absent"), clock=clock)
    spacing = DialSpacing(pressure=absent, clock=clock, sleep=clock.slept.append)
    for _dial in range(5):
        clock.now += 0.01
        assert spacing.wait(limit=0.5, max_wait=2) == 0
    assert spacing.pressure.available is False
    assert clock.slept == []
    (tmp_path / "malformed").write_text("cpu pressure: none\n")
    assert CpuPressure(path=str(tmp_path / "malformed"), clock=clock).window() is None


def test_dials_spread_out_while_the_host_is_saturated_and_close_up_when_it_is_not(tmp_path):
    clock = Clock()
    kernel = PressureFile(tmp_path, clock)
    spacing = spacing_reading(kernel)

    # A fresh process starts at INITIAL_SPACING and closes up window by window on an idle host.
    spacings = []
    for _window in range(8):
        spacing.wait(limit=0.5, max_wait=2)
        spacings.append(spacing.spacing)
        kernel.advance(0.3, share=0.1)
    assert spacings[0] < DialSpacing.INITIAL_SPACING
    assert spacings == sorted(spacings, reverse=True)
    assert spacings[-1] == 0

    # Saturated: the spacing doubles each window, and each dial waits for it.
    for _window in range(6):
        kernel.advance(0.3, share=0.95)
        spacing.wait(limit=0.5, max_wait=2)
    assert spacing.spacing == pytest.approx(DialSpacing.MIN_STEP * 2**5)
    dialed_at = clock.now
    kernel.advance(0.01, share=0.95)
    waited = spacing.wait(limit=0.5, max_wait=2)
    assert waited == pytest.approx(DialSpacing.MIN_STEP * 2**5 - 0.01)
    assert clock.now == pytest.approx(dialed_at + DialSpacing.MIN_STEP * 2**5)  # the wait and the 0.01 s

    # Never more than max_wait, however long the host stays saturated.
    for _window in range(10):
        kernel.advance(0.3, share=1.0)
        spacing.wait(limit=0.5, max_wait=2)
    assert spacing.spacing == pytest.approx(2)
    dialed_at = clock.now
    assert spacing.wait(limit=0.5, max_wait=2) == pytest.approx(2)
    assert clock.now == pytest.approx(dialed_at + 2)

    # Calm again: back to no spacing at all.
    for _window in range(30):
        kernel.advance(0.3, share=0.2)
        spacing.wait(limit=0.5, max_wait=2)
    assert spacing.spacing == 0


def test_a_process_that_stopped_dialing_starts_slow_again_and_reads_the_host_afresh(tmp_path):
    clock = Clock()
    kernel = PressureFile(tmp_path, clock)
    spacing = spacing_reading(kernel)
    for _window in range(8):
        kernel.advance(0.3, share=1.0)
        spacing.wait(limit=0.5, max_wait=2)
    assert spacing.spacing > 1

    # Quiet for a minute, then a burst: the average over the quiet minute would read 0.02 and
    # let the burst through; the kernel's own 10-second average says the host is busy now.
    kernel.advance(59.0, share=0.0)
    kernel.avg10 = 80.0
    kernel.advance(1.0, share=1.0)
    spacing.wait(limit=0.5, max_wait=2)
    assert spacing.spacing == pytest.approx(2 * DialSpacing.INITIAL_SPACING)

    # Quiet and calm: it starts at the slow-start spacing and closes up, not at the old 2 s.
    kernel.avg10 = 0.0
    kernel.advance(60.0, share=0.0)
    assert spacing.wait(limit=0.5, max_wait=2) == 0
    assert spacing.spacing == pytest.approx(DialSpacing.INITIAL_SPACING * 2 / 3)


def test_a_read_failing_after_it_worked_is_tried_again(tmp_path):
    clock = Clock()
    kernel = PressureFile(tmp_path, clock, avg10=50.0)
    pressure = CpuPressure(path=str(kernel.path), clock=clock)
    assert pressure.window() == pytest.approx(0.5)
    kernel.path.write_text("")  # a read that fails once (here: no line to parse)
    kernel.clock.now += 1
    assert pressure.window() is None
    assert pressure.available
    kernel.advance(0.5, share=0.6)
    assert pressure.window() is not None


def held_seconds() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("callcenter_dials_held_seconds_total") or 0.0


@pytest.fixture
def saturated_host(monkeypatch, tmp_path):
    """This process's dial spacing reads a host that is saturated from here on."""
    clock = Clock()
    kernel = PressureFile(tmp_path, clock, avg10=95.0)
    spacing = spacing_reading(kernel)
    spacing.spacing = 0.0
    monkeypatch.setattr(cpu_pressure, "_dial_spacing", spacing)
    return clock


@pytest.mark.django_db(transaction=True)
def test_a_queued_fill_on_a_saturated_host_spaces_its_dials(business, fake_twilio, settings, saturated_host):
    settings.OUTBOUND_DIAL_CPU_PRESSURE_LIMIT = 0.5
    settings.OUTBOUND_DIAL_CPU_PRESSURE_MAX_WAIT_SECONDS = 2
    held_before = held_seconds()
    settings.OUTBOUND_DISPATCH = "inline"
    run = start_run(business, 6, concurrency=3)
    # Started inline (in the request): not held.
    assert len(fake_twilio.calls) == 3
    assert saturated_host.slept == []

    settings.OUTBOUND_DISPATCH = "queue"
    for call in fake_twilio.open_calls():
        params = fake_twilio.progress(call, "completed")
        services.call_status_callback_record(job_id=call.job_id, claim_number=call.claim, params=params)
    services.run_fill_from_queue(run_id=run.pk)

    assert len(fake_twilio.calls) == 6
    # The first window reads the kernel's average (95%): from then on dials are spaced.
    assert saturated_host.slept == [pytest.approx(DialSpacing.MIN_STEP)] * 2
    assert held_seconds() == pytest.approx(held_before + 2 * DialSpacing.MIN_STEP)


@pytest.mark.django_db(transaction=True)
def test_no_limit_means_no_spacing(business, fake_twilio, settings, saturated_host):
    settings.OUTBOUND_DISPATCH = "queue"
    settings.OUTBOUND_DIAL_CPU_PRESSURE_LIMIT = 0
    for _dial in range(3):
        dispatch.dial_cpu_pressure_wait()
    assert saturated_host.slept == []
