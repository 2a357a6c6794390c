"""The README's measured tables are what `python -m core readme-tables` prints (core/readme.py)."""

from core.cli import readme


def rows(table: str) -> list[str]:
    return table.splitlines()[2:]


def test_probe_init_table_matches_the_command():
    """The 20- and 56-layer rows, recomputed (the 110-layer rows come from the same function; they take minutes)."""
    shown = readme.readme_block("probe-init")
    assert shown is not None, "README.md lost its probe-init table markers"
    fresh = rows(readme.probe_init_table(depths=(20, 56)))
    in_readme = [r for r in rows(shown) if "-110" not in r]
    assert in_readme == fresh


def test_shattering_table_matches_the_command():
    shown = readme.readme_block("shattering")
    depths = (8, 20, 56)
    fresh = readme.shattering_markdown(depths).splitlines()
    header = shown.splitlines()[0].strip("| ").split(" | ")
    cols = [header.index(str(d)) for d in depths]
    for line, fresh_line in zip(shown.splitlines()[2:], fresh[2:]):
        cells = line.strip("| ").split(" | ")
        assert [cells[0]] + [cells[c] for c in cols] == fresh_line.strip("| ").split(" | ")


def test_shipped_runs_table_matches_the_shipped_files():
    assert readme.readme_block("shipped") == readme.shipped_table()
    assert readme.readme_block("shipped-cifar10") == readme.shipped_cifar10_table()


def test_check_reports_a_stale_table(tmp_path, monkeypatch):
    stale = readme.README.read_text().replace("| plain-56 | kaiming |", "| plain-56 | kaiming | 999 |", 1)
    assert readme.readme_block("probe-init", stale) != readme.readme_block("probe-init")
    assert readme.replace_block(stale, "probe-init", "X").count("<!-- table:probe-init -->\nX\n") == 1


def test_test_suite_figures_come_from_the_command_and_the_count_is_current():
    """The README's test count and durations are bench.suite's newest results, and the count is today's."""
    from bench import suite

    assert readme.readme_block("test-suite") == suite.table()
    assert suite.newest("count")["tests"] == suite.collected(), "run python -m bench.suite --collect --write"


def test_install_size_comes_from_the_command_and_matches_this_environment():
    """The README's package count and size are bench.install_size's newest measurement, and measuring again here
    (where requirements.txt's pinned versions are installed) gives the same closure and the same bytes."""
    from bench import install_size

    newest = install_size.newest()
    assert readme.readme_block("install-size") == install_size.sentence(newest)
    assert newest["packages"] == len(newest["sizes"]) and newest["bytes"] == sum(newest["sizes"].values())
    assert newest["bytes"] == sum(newest["groups"].values()) and not newest["missing"]
    pins = {r.name: str(r.specifier).removeprefix("==") for r in install_size.requirements()}
    fresh = install_size.measure()
    if any(fresh["versions"].get(name.lower()) != version for name, version in pins.items()):
        return  # another environment: the measurement is of the pinned one
    assert fresh["versions"] == newest["versions"] and fresh["sizes"] == newest["sizes"]


def test_class_load_table_comes_from_the_newest_load_report():
    from bench import load

    assert readme.readme_block("load") == load.table()
