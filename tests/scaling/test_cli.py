"""``scalesearch scale``: table and JSON output, one-line errors with exit 2."""

from tests.helpers import main_json, run_main

B0 = ("width_mult=0.4", "depth_mult=0.7", "resolution=64", "num_classes=10")


def test_scale_table_shows_base_and_scaled_counts():
    out = run_main("scale", "efficientnet", *B0, "--rule", "fast", "--factor", "2")
    assert out.returncode == 0, out.stderr
    assert "Dollár" in out.stdout and "flops_x" in out.stdout and "activations_x" in out.stdout
    lines = out.stdout.splitlines()
    assert lines[-2].startswith("base") and lines[-1].startswith("fast x2")


def test_scale_json_reports_ratios_and_the_point():
    data = main_json("scale", "efficientnet", *B0, "--rule", "compound", "--factor", "4")
    assert abs(data["flops_ratio"] / 4 - 1) <= 0.05
    assert data["flops"] == round(data["flops_ratio"] * data["base_flops"])
    assert data["point"]["resolution"] > 64 and data["rule"] == "compound"
    assert "Tan & Le" in data["citation"] and "fvcore" in data["flop_convention"]


def test_scale_alpha_selects_a_dollar_rule():
    data = main_json("scale", "efficientnet", *B0, "--rule", "fast", "--alpha", "0.5", "--factor", "2")
    assert data["rule"] == "dollar0.5"


def test_scale_errors_are_one_line_exit_2():
    for args, text in (
        (("mobilenet_v3", "--rule", "compound", "--factor", "2"), "has no depth knob"),
        (("efficientnet", "--rule", "depth", "--alpha", "0.5", "--factor", "2"), "--alpha applies"),
        (("efficientnet", "--rule", "fast", "--factor", "2", "--tolerance", "2"), "--tolerance must be"),
        (("efficientnet", "--rule", "fast", "--factor", "0"), "must be a positive number"),
    ):
        out = run_main("scale", *args)
        assert out.returncode == 2 and text in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
