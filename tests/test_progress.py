"""The live progress line on a terminal, and silence off one."""

import io

from scalesearch.progress import Progress


class FakeTrial:
    number = 0


def test_live_progress_shows_done_total_best_eta_and_epochs():
    out = io.StringIO()
    p = Progress(stream=out, live=True)
    p.stage("grid", done=0, total=4)
    p.trial_started(0, {"alpha": 1.2, "beta": 1.1})
    p.epoch(0, 3, {"accuracy": 0.5})
    p.trial_finished(FakeTrial(), best=0.91)
    p.trial_started(1, {"alpha": 1.0, "beta": 1.2})
    text = out.getvalue()
    assert "[grid 0/4]" in text and "trial 0 alpha=1.2 beta=1.1" in text and "epoch 1/3 acc 0.500" in text
    assert "[grid 1/4] | best 0.91 | ETA" in text


def test_not_a_terminal_prints_only_stage_lines():
    out = io.StringIO()
    p = Progress(stream=out)  # StringIO is not a tty
    p.stage("grid", done=1, total=4)
    p.trial_started(1, {"alpha": 1.2})
    p.epoch(0, 3, {"accuracy": 0.5})
    p.trial_finished(FakeTrial(), best=0.9)
    p.close("done")
    assert out.getvalue() == "stage grid: 1 of 4 trials already done\ndone\n"
