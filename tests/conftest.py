"""Settings shared by every suite that runs the offline cloud: the time scale and how often tests look.

One place for them, so that e2e, reliability, cli, localcloud and bench tests agree, and a change of
pace is one edit. ``TIME_SCALE`` is real seconds per simulated second: at 0.01 a 600 s bake takes
6 s, while real work (training, gcc, imports) still takes real seconds. ``POLL_SECONDS`` is how
long a test sleeps between two looks at the cloud while it waits for something to happen.
"""

from __future__ import annotations

TIME_SCALE = 0.01
POLL_SECONDS = 0.02
