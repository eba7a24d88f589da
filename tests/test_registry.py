"""Family discovery: the searchspaces package, the ``scalesearch.families`` entry points (a real
``*.dist-info`` on sys.path, as pip would install it) and ``register_family``."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scalesearch import registry
from scalesearch.errors import PointError, ScalesearchError
from tests.test_conformance import check_family

TOY = Path(__file__).parent / "searchspaces" / "toy_family.py"
FIRST = ["resnet", "wrn", "densenet", "mbconv", "efficientnet"]
"""The first round's families; the families the package holds are every searchspaces module with FAMILY."""


def packaged() -> list[str]:
    """The searchspaces modules that define FAMILY, found without the registry."""
    import pkgutil

    import searchspaces

    names = [m.name for m in pkgutil.iter_modules(searchspaces.__path__) if not m.name.startswith("_")]
    families = [importlib.import_module(f"searchspaces.{n}").__dict__.get("FAMILY") for n in names]
    return [f.name for f in families if f is not None]


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test discovers anew and registers into its own table; later tests see neither."""
    monkeypatch.setattr(registry, "_registered", {})
    registry.clear_cache()
    yield
    registry.clear_cache()


def packaged_in_order() -> list[str]:
    """The packaged families in the registry's order (by year): entry points and run-time ones follow."""
    return sorted(packaged(), key=lambda n: (importlib.import_module(f"searchspaces.{n}").FAMILY.year, n))


def install(site: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, **modules: str) -> None:
    """Lay out an installed distribution in ``site`` (modules + a dist-info with the entry
    points) and put ``site`` on sys.path, so importlib.metadata finds it."""
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)
        monkeypatch.setitem(sys.modules, name, None)  # on teardown: dropped again, whatever imports it
        del sys.modules[name]
    dist = site / "scalesearch_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scalesearch-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{entry_points}\n")
    monkeypatch.syspath_prepend(str(site))
    registry.clear_cache()


def test_package_families_listed_by_paper_year() -> None:
    names = registry.family_names()
    assert sorted(names) == sorted(packaged()) and [n for n in names if n in FIRST] == FIRST
    years = [registry.get_family(n).year for n in names]
    assert all(y is not None for y in years) and years == sorted(years)  # type: ignore[type-var]
    assert [f.name for f in registry.families()] == names
    assert registry.get_family("wrn").name == "wrn"
    assert registry.find_canonical("resnet50")[0].name == "resnet"


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(PointError, match="unknown family 'vgg'; valid families: .*resnet, .*wrn, densenet"):
        registry.get_family("vgg")
    with pytest.raises(PointError, match="unknown network 'vgg17'; canonical networks: .*resnet18, "):
        registry.find_canonical("vgg17")


def test_toy_family_from_an_entry_point_passes_the_conformance_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "toy" not in registry.family_names()
    install(tmp_path, monkeypatch, "toy = toy_family:FAMILY", toy_family=TOY.read_text())
    assert registry.family_names() == [*packaged_in_order(), "toy"]
    toy = registry.get_family("toy")
    assert registry.find_canonical("toy_3_16") == (toy, toy.canonical[0])
    check_family(toy, n_random=30)


def test_an_entry_point_may_name_a_module_defining_family(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, monkeypatch, "toy = toy_family", toy_family=TOY.read_text())
    assert registry.get_family("toy").summary.startswith("toy plain CNN")


@pytest.mark.parametrize(
    ("entry_point", "module", "message"),
    [
        ("bad = missing_module:FAMILY", "", "entry point bad = missing_module:FAMILY (group scalesearch.families) "
         "failed to load: ModuleNotFoundError: No module named 'missing_module'"),
        ("bad = plugin:FAMILY", "raise RuntimeError('boom')", "plugin:FAMILY (group scalesearch.families) "
         "failed to load: RuntimeError: boom"),
        ("bad = plugin:FAMILY", "FAMILY = 42", "entry point bad = plugin:FAMILY (group scalesearch.families) must "
         "give a scalesearch Family or a module defining FAMILY, but gave int"),
        ("bad = plugin", "x = 1", "must give a scalesearch Family or a module defining FAMILY, but gave module"),
    ],
)  # fmt: skip
def test_broken_entry_points_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_point: str, module: str, message: str
) -> None:
    install(tmp_path, monkeypatch, entry_point, plugin=module)
    with pytest.raises(ScalesearchError) as err:
        registry.family_names()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_entry_point_reusing_a_package_name_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = TOY.read_text().replace('name="toy"', 'name="resnet"')
    install(tmp_path, monkeypatch, "myresnet = toy_family:FAMILY", toy_family=plugin)
    with pytest.raises(ScalesearchError) as err:
        registry.get_family("resnet")
    assert str(err.value) == (
        "family names must be unique, but 'resnet' is defined by module searchspaces.resnet and by "
        "entry point myresnet = toy_family:FAMILY (group scalesearch.families)"
    )


def test_register_family_at_run_time() -> None:
    spec = importlib.util.spec_from_file_location("toy_family_copy", TOY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    toy = dataclasses.replace(module.FAMILY, name="toy_runtime")
    assert registry.register_family(toy) is toy
    assert registry.family_names() == [*packaged_in_order(), "toy_runtime"]
    assert registry.get_family("toy_runtime") is toy
    registry.clear_cache()  # rediscovery keeps run-time registrations
    assert registry.get_family("toy_runtime") is toy

    with pytest.raises(
        ScalesearchError, match="'toy_runtime' is defined by register_family\\(\\) and by register"
    ):
        registry.register_family(toy)
    with pytest.raises(
        ScalesearchError, match="'wrn' is defined by module searchspaces.wrn and by register_family"
    ):
        registry.register_family(dataclasses.replace(toy, name="wrn"))
    with pytest.raises(
        ScalesearchError, match="register_family\\(\\) needs a scalesearch Family, but got str"
    ):
        registry.register_family("toy")  # type: ignore[arg-type]
