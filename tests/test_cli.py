"""The commands as a user runs them: output formats, exit status 2 and one line for bad input."""

import pytest

from tests.helpers import cli, cli_json


def test_families_lists_every_family_with_parameters():
    data = cli_json("families")
    names = [f["family"] for f in data]
    assert names == ["resnet", "wrn", "densenet", "mbconv", "efficientnet"]
    wrn = data[names.index("wrn")]
    assert {p["parameter"] for p in wrn["parameters"]} >= {"depth", "widen_factor", "dropout", "resolution"}
    assert "wrn_28_10" in wrn["canonical"]


def test_fixed_points_json_has_reference_counts():
    rows = cli_json("fixed-points", "--family", "wrn", "--method", "analytic")
    assert [r["name"] for r in rows] == ["wrn_16_8", "wrn_22_10", "wrn_28_10", "wrn_40_4"]
    for r in rows:
        assert set(r) >= {"name", "family", "point", "resolution", "params", "flops"}
    assert rows[2]["params"] == 36_479_194 and rows[2]["ref_params"] == "36.5M"


def test_fixed_points_csv():
    out = cli("fixed-points", "--family", "wrn", "--method", "analytic", "--format", "csv")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("name,family,resolution,params") and len(lines) == 5


def test_cost_json_fvcore_and_list_values():
    data = cli_json("cost", "densenet", "block_config=1,2,2,1", "growth_rate=8", "--resolution", "64")
    assert data["point"]["block_config"] == [1, 2, 2, 1] and data["resolution"] == 64
    assert data["params"] > 0 and data["flops"] > 0 and "flop_convention" in data
    assert data["unsupported"] is not None  # fvcore's uncounted operators are listed, never hidden


def test_cost_latency_is_measured_and_cached():
    first = cli_json("cost", "wrn", "depth=10", "widen_factor=1", "--latency", "--repeats", "3")
    assert first["latency_ms"] > 0 and first["latency"]["cached"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cost", "wrn", "depth=27"], "depth must be 6N+4"),
        (["cost", "wrn", "foo=1"], "valid parameters: depth, widen_factor"),
        (["cost", "nofamily"], "unknown family 'nofamily'"),
        (["cost", "resnet", "depth=50", "cardinality=0"], "cardinality must be"),
        (["cost", "wrn", "--latency", "--device", "cuda:7"], "not available"),
        (["screen", "wrn", "--budget", "speed<=1", "--samples", "5"], "unknown metric 'speed'"),
        (["screen", "wrn", "--budget", "flops<=", "--samples", "5"], "METRIC OP VALUE"),
        (["screen", "wrn", "--budget", "flops<=-4", "--samples", "5"], "non-negative"),
        (["screen", "wrn", "--budget", "flops<=1.1*resnet5000", "--samples", "5"], "unknown network"),
        (["solve", "resnet", "depth=50", "--free", "nope", "--match", "resnet50"], "no parameter 'nope'"),
    ],
)
def test_bad_input_one_line_exit_2(args, message):
    out = cli(*args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_solve_reproduces_resnext_complexity_table():
    # ResNeXt paper, Table 2: C = 2, 4, 8, 32 keep ResNet-50's complexity with d = 40, 24, 14, 4
    for c, d in ((2, 40), (4, 24), (8, 14), (32, 4)):
        out = cli("solve", "resnet", "depth=50", f"cardinality={c}", "--free", "bottleneck_width",
                  "--match", "resnet50", "--metric", "params")
        assert out.returncode == 0 and out.stdout.strip() == str(d)
    data = cli_json("solve", "resnet", "depth=50", "cardinality=8", "--free", "bottleneck_width",
                    "--match", "resnet50")
    assert data["value"] == 14 and abs(data["relative_error"]) < 0.01 and data["achieved"] > 0


def test_screen_reports_feasible_count_and_speed():
    data = cli_json("screen", "wrn", "--budget", "params<=5M", "--samples", "300")
    assert data["screened"] == 300 and 0 < data["feasible"] < 300
    assert data["method"] == "analytic" and data["seconds"] > 0
    assert data["cheapest"]["params"] <= data["dearest"]["params"]
