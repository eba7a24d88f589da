"""The commands as a user runs them: output formats, exit status 2 and one line for bad input.

In process (``main([...])``) for speed; one test runs the real console entry point as a process.
"""

import json

import pytest

from scalesearch.registry import families
from tests.helpers import cli, main_json, run_main


def test_families_lists_every_family_with_parameters():
    data = main_json("families")
    names = [f["family"] for f in data]
    assert names == [f.name for f in families()]
    first_five = ["resnet", "wrn", "densenet", "mbconv", "efficientnet"]  # listed by their papers' years
    assert [n for n in names if n in first_five] == first_five
    wrn = data[names.index("wrn")]
    assert {p["parameter"] for p in wrn["parameters"]} >= {"depth", "widen_factor", "dropout", "resolution"}
    assert "wrn_28_10" in wrn["canonical"]


def test_families_table_fits_a_100_column_terminal():
    out = run_main("families")
    assert out.returncode == 0
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    assert "widen_factor" in out.stdout and "canonical: wrn_16_8" in out.stdout


def test_fixed_points_json_has_reference_counts():
    rows = main_json("fixed-points", "--family", "wrn", "--method", "analytic")
    assert [r["name"] for r in rows] == ["wrn_16_8", "wrn_22_10", "wrn_28_10", "wrn_40_4"]
    for r in rows:
        assert set(r) >= {"name", "family", "point", "resolution", "params", "flops"}
    # numeric columns hold numbers only; the paper's printed figure has its own column
    assert rows[2]["params"] == 36_479_194 and rows[2]["ref_params"] is None
    assert rows[2]["paper_params"] == "36.5M" and rows[2]["reference"]["paper_params"] == "36.5M"


def test_fixed_points_csv():
    out = run_main("fixed-points", "--family", "wrn", "--method", "analytic", "--format", "csv")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("name,family,resolution,params") and len(lines) == 5
    header = lines[0].split(",")
    for line in lines[1:]:
        cells = dict(zip(header, line.split(","), strict=False))
        for column in ("params", "ref_params", "flops", "ref_flops", "activations"):
            assert cells[column] == "" or cells[column].isdigit(), (
                column,
                cells[column],
            )  # no '11.0M', no '.0'


def test_fixed_points_table_explains_its_columns():
    out = run_main("fixed-points", "--family", "wrn", "--method", "analytic")
    assert "non_default" in out.stdout and "differs from its family's defaults" in out.stdout
    assert "point_diff" not in out.stdout


def test_cost_json_fvcore_and_list_values():
    data = main_json("cost", "densenet", "block_config=1,2,2,1", "growth_rate=8", "--resolution", "64")
    assert data["point"]["block_config"] == [1, 2, 2, 1] and data["resolution"] == 64
    assert data["params"] > 0 and data["flops"] > 0 and "flop_convention" in data
    assert data["unsupported"] is not None  # fvcore's uncounted operators are listed, never hidden


def test_cost_latency_is_measured_and_cached():
    args = ("cost", "wrn", "depth=10", "widen_factor=1", "--latency", "--repeats", "3")
    first = main_json(*args)
    assert first["latency_ms"] > 0 and first["latency"]["cached"] is False
    again = main_json(*args)
    assert again["latency"]["cached"] is True and again["latency_ms"] == first["latency_ms"]


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
        # values that parse but cannot be used (issue 15, item 7)
        (["cost", "wrn", "depth=nan"], "depth=nan"),
        (["cost", "wrn", "depth=inf"], "depth=inf"),
        (["cost", "wrn", "depth=1e400"], "depth=1e400"),
        (["cost", "resnet", "depth=none", "--method", "analytic"], "depth=none"),
        (["cost", "densenet", "block_config=6,,12", "--method", "analytic"], "block_config=6,,12"),
        (["cost", "densenet", "block_config=6,12,", "--method", "analytic"], "block_config=6,12,"),
        (["cost", "resnet", "depth=50", "depth=101", "--method", "analytic"], "depth=50 and depth=101"),
        (["cost", "wrn", "resolution=64", "--resolution", "128"], "resolution=64 and --resolution 128"),
        (["cost", "wrn", "--samples", "3"], "unrecognized arguments: --samples"),
        (["screen", "wrn", "--samples", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_input_one_line_exit_2(args, message):
    out = run_main(*args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_the_console_script_exits_2_with_one_line():
    out = cli("cost", "wrn", "depth=27")  # a real process: exit status and stderr as a shell sees them
    assert out.returncode == 2 and out.stdout == ""
    assert (
        out.stderr.strip()
        == "scalesearch cost: error: wrn: depth must be 6N+4 with N >= 1 (e.g. 10, 16, 22, "
        "28, 40), but got depth=27"
    )


def test_a_point_too_large_for_the_machine_is_refused_before_it_is_built():
    out = run_main("cost", "wrn", "depth=994", "widen_factor=32", "resolution=1024")
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "too large for the fvcore trace" in line
    assert "GiB" in line and "available" in line and "--method analytic" in line
    analytic = main_json(
        "cost", "wrn", "depth=994", "widen_factor=32", "resolution=1024", "--method", "analytic"
    )
    assert analytic["params"] == 16_329_058_778  # the analytic path still answers


def test_duplicate_equal_values_are_fine():
    data = main_json(
        "cost", "wrn", "depth=16", "depth=16", "resolution=32", "--resolution", "32", "--method", "analytic"
    )
    assert data["point"]["depth"] == 16


def test_version_and_help_show_defaults():
    out = run_main("--version")
    assert out.returncode == 0 and out.stdout.strip().startswith("scalesearch 0.")
    for command, options in (
        ("cost", ("--method", "--batch-size", "--dtype", "--warmup")),
        ("screen", ("--samples", "--seed", "--method")),
        ("run", ("--cpus-per-trial", "--gpus-per-trial")),
    ):
        text = " ".join(run_main(command, "--help").stdout.split())
        for option in options:
            assert option in text
            after = text.split(option, 2)[-1][:400]
            assert "default" in after, (command, option, after)


def test_solve_reproduces_resnext_complexity_table():
    # ResNeXt paper, Table 2: C = 2, 4, 8, 32 keep ResNet-50's complexity with d = 40, 24, 14, 4
    for c, d in ((2, 40), (4, 24), (8, 14), (32, 4)):
        out = run_main(
            "solve",
            "resnet",
            "depth=50",
            f"cardinality={c}",
            "--free",
            "bottleneck_width",
            "--match",
            "resnet50",
            "--metric",
            "params",
        )
        assert out.returncode == 0 and out.stdout.strip() == str(d)
    data = main_json(
        "solve", "resnet", "depth=50", "cardinality=8", "--free", "bottleneck_width", "--match", "resnet50"
    )
    assert data["value"] == 14 and abs(data["relative_error"]) < 0.01 and data["achieved"] > 0
    assert isinstance(data["achieved"], int) and isinstance(data["target"], int)  # counts, not 25557032.0


def test_screen_reports_feasible_count_and_speed():
    data = main_json("screen", "wrn", "--budget", "params<=5M", "--samples", "300")
    assert data["screened"] == 300 and 0 < data["feasible"] < 300
    assert data["method"] == "analytic" and data["seconds"] > 0
    assert data["cheapest"]["params"] <= data["dearest"]["params"]
    assert isinstance(data["dearest"]["violations"], list)
    assert json.dumps(data)  # plain JSON all through


def test_fixed_points_table_names_each_rows_source_and_the_papers_figure():
    out = run_main("fixed-points", "--family", "fractalnet", "--method", "analytic").stdout
    row = next(line for line in out.splitlines() if line.startswith("fractalnet_cifar10 "))
    # the reference's count (pytorchcv's); the paper's (unreproduced) 38.6M stands beside it
    assert "33,724,618" in row and "38.6M" in row and "pytorchcv 0.0.74 fractalnet_cifar10()" in row
