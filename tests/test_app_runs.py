"""The Runs page under AppTest: filters for everyone (and from a link), rename, tag, delete, export and import
for the teacher only."""

import io
import zipfile

import pytest
from conftest import ROOT, tiny_config
from streamlit.testing.v1 import AppTest

from core.runs import archive, reference
from core.runs.catalog import family
from core.runs.store import RunStore
from dashboard import keys
from dashboard.common import TEACHER_KEY

RUNS = str(ROOT / "pages" / "8_Runs.py")
HOME = str(ROOT / "dashboard" / "Home.py")
TIMEOUT = 180  # seconds per script run on a shared CPU; the page itself is quick


@pytest.fixture(scope="module")
def shipped_home(tmp_path_factory):
    """A store with the shipped runs, one of them named and tagged, and one tiny run of this machine."""
    from core.runs.execute import train

    home = tmp_path_factory.mktemp("runs_home")
    store = RunStore(home)
    reference.install(store)
    own = train(tiny_config(shortcut="B", probe_every=0), store).record
    store.rename(own.run_id, "my ResNet-8 B", ["week-3"])
    return home, own.run_id


@pytest.fixture
def home(shipped_home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(shipped_home[0]))
    monkeypatch.delenv("RESNET_LAB_TEACHER_PASSPHRASE", raising=False)
    return shipped_home


def open_runs(teacher: bool = False, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(RUNS, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    if teacher:
        at.session_state[TEACHER_KEY] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest):
    return at.dataframe[0].value


def test_filters_narrow_the_list_and_students_only_read(home):
    root, own = home
    at = open_runs()
    total = len(RunStore(root).list())
    assert len(table(at)) == total and f"{total} of {total} stored runs match (all runs)" in at.caption[0].value
    at.multiselect(key=keys.RUNS_FAMILY).select("plain").run()
    at.multiselect(key=keys.RUNS_DEPTH).select(56).run()
    rows = table(at)
    assert len(rows) >= 1 and set(rows["family"]) == {"plain"} and set(rows["depth"]) == {56}
    assert f"of {total} stored runs match (plain · depth 56)" in at.caption[0].value
    at.multiselect(key=keys.RUNS_FAMILY).unselect("plain").run()
    at.multiselect(key=keys.RUNS_DEPTH).unselect(56).run()
    at.multiselect(key=keys.RUNS_TAG).select("week-3").run()
    assert list(table(at)["id"]) == [own] and list(table(at)["run"]) == ["my ResNet-8 B"]
    # no teacher actions without the passphrase: no buttons, no uploader, and the page says how to unlock them
    assert not at.button and not at.file_uploader and not at.text_input
    assert any("teacher actions" in c.value and "RESNET_LAB_TEACHER_PASSPHRASE" in c.value for c in at.caption)


def test_a_link_opens_the_same_selection(home):
    at = open_runs(
        query={
            keys.RUNS_FAMILY: ["ResNet A", "wide ResNet"],
            keys.RUNS_DEPTH: "20",
            keys.RUNS_RECIPE: "Adam (seed study)",
        }
    )  # a selection's value travels as its label
    assert at.multiselect(key=keys.RUNS_FAMILY).value == ["ResNet A"] and at.multiselect(key=keys.RUNS_DEPTH).value == [
        20
    ]
    assert at.multiselect(key=keys.RUNS_RECIPE).value == ["seed"]
    rows = table(at)
    assert len(rows) >= 1 and set(rows["family"]) == {"ResNet A"} and set(rows["depth"]) == {20}
    note = [c.value for c in at.caption if c.value.startswith(":material/link_off:")]
    assert note and "wide ResNet" in note[0] and "families of stored runs" in note[0]


def test_the_passphrase_unlocks_the_teacher_actions(home, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_TEACHER_PASSPHRASE", "barn owl")
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT).run()
    at.switch_page("../pages/8_Runs.py").run()
    assert not at.exception and not at.button
    assert any("give the teacher passphrase in the sidebar" in c.value for c in at.caption)
    at.text_input(key="teacher_passphrase_input").input("barn owl").run()
    assert not at.exception and "Manage a run" in [s.value for s in at.subheader]
    assert at.button(key=keys.RUNS_EXPORT_PREPARE) and at.file_uploader(key=keys.RUNS_IMPORT_UPLOAD)


def test_teacher_renames_tags_exports_imports_and_deletes(home, tmp_path, monkeypatch):
    root, own = home
    store = RunStore(root)
    at = open_runs(teacher=True)
    at.multiselect(key=keys.RUNS_TAG).select("week-3").run()
    assert at.selectbox(key=keys.RUNS_PICK).value == own
    at.text_input(key=f"runs_name_{own}").input("ResNet-8 B, week 3").run()
    at.text_input(key=f"runs_tags_{own}").input("week-3, shortcuts").run()
    at.button(key=f"runs_save_{own}").click().run()
    assert store.get(own).name == "ResNet-8 B, week 3" and store.get(own).tags == ("week-3", "shortcuts")
    assert any("Saved the name and tags" in s.value for s in at.success)

    at.text_input(key=keys.RUNS_EXPORT_TITLE).input("Week 3").run()
    at.button(key=keys.RUNS_EXPORT_PREPARE).click().run()
    _, name, data, summary = at.session_state[keys.RUNS_EXPORT_FILE]
    assert name == "resnet-lab-week-3.zip" and summary.startswith("1 run, 1 with weights")
    assert at.download_button[0].label == f"Download {name}"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert f"runs/{own}/weights.safetensors" in z.namelist()
    at.text_input(key=keys.RUNS_EXPORT_TITLE).input("Week 4").run()
    assert not at.download_button  # prepared for another title: not offered until prepared again
    at.text_input(key=keys.RUNS_EXPORT_TITLE).input("Week 3").run()
    assert at.download_button

    weights = store.weights_path(own).read_bytes()
    at.button(key=f"runs_delete_{own}").click().run()
    assert store.get(own) is None and any("Deleted" in s.value for s in at.success)

    at.file_uploader(key=keys.RUNS_IMPORT_UPLOAD).set_value(("week3.zip", data[:500], "application/zip")).run()
    at.button(key=keys.RUNS_IMPORT_BUTTON).click().run()
    assert any("week3.zip cannot be imported" in e.value for e in at.error) and store.get(own) is None

    at.file_uploader(key=keys.RUNS_IMPORT_UPLOAD).set_value(("week3.zip", data, "application/zip")).run()
    at.button(key=keys.RUNS_IMPORT_BUTTON).click().run()
    assert not at.exception and any("week3.zip: 1 run added" in s.value for s in at.success)
    assert store.get(own).name == "ResNet-8 B, week 3" and store.weights_path(own).read_bytes() == weights


def test_a_shipped_run_can_be_deleted_by_the_teacher_and_a_filter_with_no_match_says_so(home):
    root, _ = home
    store = RunStore(root)
    shipped = next(r for r in store.list() if r.reference and family(r.config) == "ResNet B")
    at = open_runs(teacher=True, query={keys.RUNS_FAMILY: "ResNet B"})
    at.selectbox(key=keys.RUNS_PICK).select(shipped.run_id).run()
    at.button(key=f"runs_delete_{shipped.run_id}").click().run()
    assert store.get(shipped.run_id) is None
    reference.install(store)  # as the next server start does
    at = open_runs(
        teacher=True, query={keys.RUNS_FAMILY: "plain", keys.RUNS_DEPTH: "110"}
    )  # the shipped set has no plain-110
    assert not at.dataframe and any("No run matches the filters" in c.value for c in at.caption)
    assert at.button(key=keys.RUNS_EXPORT_PREPARE).disabled


def test_lesson_file_names_come_from_the_title():
    assert archive.lesson_file_name("Week 3: depth!") == "resnet-lab-week-3-depth.zip"
    assert archive.lesson_file_name("").startswith("resnet-lab-lesson-")


def test_an_empty_store_can_import_a_lesson(shipped_home, tmp_path, monkeypatch):
    from core.runs import reference as ref

    root, own = shipped_home
    data, _ = archive.export_lesson_bytes(RunStore(root), [RunStore(root).get(own)])
    monkeypatch.setattr(ref, "install", lambda store, *args, **kwargs: 0)  # a store without the shipped runs
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "empty"))
    at = open_runs(teacher=True)
    assert (
        any("No runs are stored yet" in i.value for i in at.info) and at.button(key=keys.RUNS_EXPORT_PREPARE).disabled
    )
    at.file_uploader(key=keys.RUNS_IMPORT_UPLOAD).set_value(("lesson.zip", data, "application/zip")).run()
    at.button(key=keys.RUNS_IMPORT_BUTTON).click().run()
    assert not at.exception and [r.run_id for r in RunStore(tmp_path / "empty").list()] == [own]
    assert len(table(at)) == 1
