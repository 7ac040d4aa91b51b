"""How saturated this host's CPUs are, from Linux pressure stall information (PSI).

/proc/pressure/cpu counts, in microseconds, the time during which at least one runnable task
waited for a CPU ("some ... total="). The share of wall time it grew by over a short window is
the host's CPU pressure: near 0 while every task finds a free core, near 1 when the host is
saturated and everything, webhooks included, queues for the CPU.

Per process and without locks: each reader keeps its own last sample. Only one thread of a
process dials (a qcluster worker runs one task at a time; its wake-up pump only queues tasks).
"""

import logging
import time

logger = logging.getLogger(__name__)

PRESSURE_FILE = "/proc/pressure/cpu"
# Shorter windows follow a burst sooner but read noise from a single busy moment.
WINDOW_SECONDS = 0.25


class CpuPressure:
    def __init__(self, path: str = PRESSURE_FILE, clock=time.monotonic):
        self.path = path
        self.clock = clock
        self.available = True
        self._sampled_at: float | None = None
        self._stalled_microseconds = 0

    def restart(self) -> None:
        """Forget the last sample: the next reading is the kernel's 10-second average again,
        not a window diluted by a long quiet time."""
        self._sampled_at = None

    def window(self) -> float | None:
        """The share of the time since the previous reading (at least WINDOW_SECONDS ago) in
        which a task waited for a CPU, from 0 to 1; None sooner than that, or where the kernel
        does not report it. The first reading is the kernel's own 10-second average."""
        if not self.available:
            return None
        now = self.clock()
        # Inside a window there is nothing new to say: the file is not read (a dial's hot path).
        if self._sampled_at is not None and now - self._sampled_at < WINDOW_SECONDS:
            return None
        reading = self._read()
        if reading is None:
            return None
        stalled, average = reading
        if self._sampled_at is None:
            self._sampled_at, self._stalled_microseconds = now, stalled
            return average
        elapsed = now - self._sampled_at
        share = (stalled - self._stalled_microseconds) / 1e6 / elapsed
        self._sampled_at, self._stalled_microseconds = now, stalled
        return min(max(share, 0.0), 1.0)

    def _read(self) -> tuple[int, float] | None:
        """The "some" line: its total (microseconds) and its 10-second average (a share)."""
        try:
            with open(self.path, encoding="ascii") as pressure:
                some = pressure.readline()
            fields = dict(field.split("=", 1) for field in some.split()[1:])
            return int(fields["total"]), float(fields["avg10"]) / 100
        except (OSError, KeyError, ValueError) as error:
            if self._sampled_at is None or isinstance(error, FileNotFoundError):
                # No PSI: not Linux, a kernel without it, or booted with psi=0.
                self.available = False
                logger.info("CPU pressure is not available (%s): dials are not spaced for it", error)
            else:
                logger.warning("CPU pressure could not be read (%s); tried again at the next dial", error)
            return None


class DialSpacing:
    """The least time between two dials of this process, following the host's CPU pressure:
    doubled (from MIN_STEP) at each window above the limit, shrunk by a third at each window
    under it. Dials then come as a steady trickle the host keeps up with, not in bursts
    whenever the pressure dips; halving it instead let the dials come back faster than the
    webhooks of the last ones (docs/scaling.md, "The webhook at 10,000 calls")."""

    MIN_STEP = 0.01
    # A process starts as if the host were busy and speeds up window by window: a burst of
    # dials at start (many runs started at once) is placed at a pace the host can answer.
    # So does a process that has not dialed for IDLE_SECONDS: what it knew is out of date.
    INITIAL_SPACING = 0.05
    IDLE_SECONDS = 5.0

    def __init__(self, pressure: CpuPressure | None = None, clock=time.monotonic, sleep=time.sleep):
        self.pressure = pressure or CpuPressure(clock=clock)
        self.clock = clock
        self.sleep = sleep
        self.spacing = self.INITIAL_SPACING
        self._last_dial_at: float | None = None

    def wait(self, *, limit: float, max_wait: float) -> float:
        """Wait for this process's next dial; returns the seconds waited (at most max_wait)."""
        started = self.clock()
        if self._last_dial_at is not None and started - self._last_dial_at > self.IDLE_SECONDS:
            self.spacing = self.INITIAL_SPACING
            self.pressure.restart()
        share = self.pressure.window()
        if not self.pressure.available:
            return 0.0
        if share is not None:
            if share > limit:
                self.spacing = min(max(self.spacing * 2, self.MIN_STEP), max_wait)
            else:
                self.spacing = self.spacing * 2 / 3 if self.spacing > self.MIN_STEP else 0.0
        waited = 0.0
        if self._last_dial_at is not None and self.spacing:
            waited = min(max(self._last_dial_at + self.spacing - started, 0.0), max_wait)
            if waited:
                self.sleep(waited)
        self._last_dial_at = self.clock()
        return waited


_dial_spacing = DialSpacing()


def dial_spacing_wait(*, limit: float, max_wait: float) -> float:
    return _dial_spacing.wait(limit=limit, max_wait=max_wait)
