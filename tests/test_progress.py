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
    p.epoch(1, 3, {"accuracy": 0.5})  # after the first of 3 epochs (the loop counts from 1)
    p.trial_finished(FakeTrial(), best=0.91)
    p.trial_started(1, {"alpha": 1.0, "beta": 1.2})
    text = out.getvalue()
    assert "[grid 0/4]" in text and "trial 0 alpha=1.2 beta=1.1" in text and "epoch 1/3 acc 0.500" in text
    assert "[grid 1/4] | best 0.91 | ETA" in text


def test_the_last_epoch_shows_k_of_n_never_more():
    out = io.StringIO()
    p = Progress(stream=out, live=True)
    p.stage("grid", done=0, total=1)
    p.trial_started(0, {"alpha": 1.2})
    for k in (1, 2, 3):  # as train_and_evaluate calls on_epoch
        p.epoch(k, 3, {"accuracy": 0.5})
    text = out.getvalue()
    assert "epoch 3/3" in text and "epoch 4/3" not in text


def test_the_live_line_is_ended_before_other_output():
    out = io.StringIO()
    p = Progress(stream=out, live=True)
    p.stage("grid", done=0, total=2)
    p.trial_finished(FakeTrial(), best=0.9499)
    p.say("a summary line")
    p.stage("scale", done=0, total=3)
    lines = out.getvalue().split("\n")
    assert any("best 0.9499" in line and "summary" not in line for line in lines)  # not glued
    assert "a summary line" in lines and "stage scale: 0 of 3 trials already done" in lines


def test_eta_covers_every_stage_of_the_run():
    out = io.StringIO()
    p = Progress(stream=out, live=True)
    p.plan(10)  # 2 in the first stage, 8 later
    p.stage("grid", done=0, total=2)
    p.started -= 10  # one trial took 10 s
    p.trial_finished(FakeTrial(), best=0.5)
    assert "ETA 1m30s" in out.getvalue()  # 9 trials left in the run at 10 s each, not 1 in the stage


def test_not_a_terminal_prints_only_stage_lines():
    out = io.StringIO()
    p = Progress(stream=out)  # StringIO is not a tty
    p.stage("grid", done=1, total=4)
    p.trial_started(1, {"alpha": 1.2})
    p.epoch(1, 3, {"accuracy": 0.5})
    p.trial_finished(FakeTrial(), best=0.9)
    p.close("done")
    assert out.getvalue() == "stage grid: 1 of 4 trials already done\ndone\n"
