"""The CLI's progress bars: the training bar's ETA and the line on why a fit stopped."""

from __future__ import annotations

from medue.commands.progress import PhaseBars, fit_line


def test_training_bar_shows_steps_and_an_eta_and_the_stop_note(capsys):
    bars = PhaseBars()
    bars("fit", 1, 300)
    bars("fit", 150, 150)  # a fit that stopped early ends its bar there
    bars.note("fit", "150 of at most 300 steps in 75 s; plateau: ...")
    bars.close()
    err = capsys.readouterr().err
    assert "training: 150/150 steps" in err and "ETA <=" in err and "elapsed" in err
    assert "training: 150 of at most 300 steps in 75 s; plateau: ..." in err


def test_disabled_bars_print_nothing_and_fit_line_reads_the_history(capsys):
    bars = PhaseBars(enabled=False)
    bars("fit", 1, 3)
    bars.note("fit", "anything")
    bars.close()
    assert capsys.readouterr().err == ""
    history = {"steps": 150, "seconds": 75.4, "stopped": "plateau: ..."}
    assert fit_line(history) == "fit: 150 steps in 75 s; plateau: ..."
    assert fit_line({"seconds": 1.0}) is None  # an older generator, or no fit
