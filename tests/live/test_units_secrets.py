"""secrets.py on its own: the subscriptions' secrets kept in the project's .dlt/secrets.toml (and
read from the environment), against the file's text and mode as a user finds them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import dlt
import pytest
import tomlkit

from timetrack.errors import ConfigurationError
from timetrack.live.secrets import forget_secrets, load_secrets, secrets_file, store_secret


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # dlt's settings folder is ./.dlt
    for name in list(os.environ):
        if name.startswith("SOURCES__TIMETRACK__WEBHOOKS__"):
            monkeypatch.delenv(name)
    return tmp_path


def test_the_secrets_file_is_the_projects(project: Path) -> None:
    assert secrets_file().resolve() == project / ".dlt" / "secrets.toml"


def test_stored_secrets_are_written_owner_only_beside_what_was_there(project: Path) -> None:
    folder = project / ".dlt"
    assert load_secrets() == {}
    store_secret(7, "s-7")
    store_secret(8, "s-8")
    path = folder / "secrets.toml"
    assert tomlkit.parse(path.read_text()) == {
        "sources": {"timetrack": {"webhooks": {"secrets": {"7": "s-7", "8": "s-8"}}}}
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["secrets.toml"]  # no temporary left
    path.write_text('api_token = "tok"\n' + path.read_text())
    store_secret(7, "s-7 new")
    assert load_secrets() == {7: "s-7 new", 8: "s-8"}
    assert tomlkit.parse(path.read_text())["api_token"] == "tok"
    forget_secrets([7, 9])
    assert load_secrets() == {8: "s-8"}
    assert tomlkit.parse(path.read_text()) == {
        "api_token": "tok",
        "sources": {"timetrack": {"webhooks": {"secrets": {"8": "s-8"}}}},
    }


def test_a_secret_stored_already_leaves_the_file_as_it_is(project: Path) -> None:
    store_secret(7, "s-7")
    path = project / ".dlt" / "secrets.toml"
    before = path.stat().st_ino
    store_secret(7, "s-7")
    assert path.stat().st_ino == before  # not rewritten (a rewrite replaces the file)
    store_secret(7, "other")
    assert path.stat().st_ino != before


def test_forgetting_nothing_writes_nothing(project: Path) -> None:
    forget_secrets([])
    assert not (project / ".dlt").exists()
    forget_secrets([3])
    assert tomlkit.parse((project / ".dlt" / "secrets.toml").read_text()) == {
        "sources": {"timetrack": {"webhooks": {"secrets": {}}}}
    }


def test_only_subscription_ids_with_text_secrets_are_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / ".dlt"
    folder.mkdir()
    (folder / "secrets.toml").write_text(
        "[sources.timetrack.webhooks.secrets]\n"
        '7 = "file-7"\nname = "not an id"\n9 = 12\n10 = "file-10"\n'
    )
    monkeypatch.setenv("SOURCES__TIMETRACK__WEBHOOKS__SECRETS__10", "env-10")
    monkeypatch.setenv("SOURCES__TIMETRACK__WEBHOOKS__SECRETS__11", "env-11")
    monkeypatch.setenv("SOURCES__TIMETRACK__WEBHOOKS__SECRETS__X1", "not an id")
    monkeypatch.setenv("OTHER__SECRETS__12", "not ours")
    monkeypatch.setenv("13", "not ours")
    assert load_secrets() == {7: "file-7", 10: "env-10", 11: "env-11"}


def test_secrets_that_are_no_table_are_ignored(project: Path) -> None:
    (project / ".dlt").mkdir()
    (project / ".dlt" / "secrets.toml").write_text('[sources.timetrack.webhooks]\nsecrets = "x"\n')
    assert load_secrets() == {}


def test_a_file_that_cannot_be_written_or_read_is_a_configuration_error(project: Path) -> None:
    (project / ".dlt").mkdir()
    path = project / ".dlt" / "secrets.toml"
    path.write_text("a = = 1\n")
    with pytest.raises(ConfigurationError) as caught:
        forget_secrets([7])
    # Read by the edit itself, or by dlt first where this process had not asked it anything yet
    # (then its message names the file and the paths it looked in).
    message = str(caught.value)
    assert message.startswith("cannot write the webhook secrets"), message
    assert message.endswith("Unexpected character: '=' at line 1 col 4"), message
    assert "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    path.unlink()
    path.mkdir()  # a folder where the file should be
    with pytest.raises(ConfigurationError, match=r"cannot write the webhook secrets to .*direct"):
        forget_secrets([7])


def test_secrets_of_the_users_global_dlt_folder_are_read_too(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("global")
    (home / "secrets.toml").write_text('[sources.timetrack.webhooks.secrets]\n5 = "global-5"\n')
    # dlt's global folder (~/.dlt, or /var/dlt for root) is the run context's to say
    monkeypatch.setattr(dlt.current.run_context(), "_global_dir", str(home))
    assert load_secrets() == {5: "global-5"}
    store_secret(6, "project-6")  # stored in the project's, read beside the global one
    assert load_secrets() == {5: "global-5", 6: "project-6"}


def test_the_file_is_replaced_at_once_by_a_hidden_temporary_beside_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced: list[tuple[Path, Path]] = []
    real = os.replace

    def replace(source: str, destination: Path) -> None:
        replaced.append((Path(source), Path(destination)))
        real(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    store_secret(7, "s-7")
    [(temporary, path)] = replaced
    # beside it: a rename within one filesystem, never half a file; hidden, never read as toml
    assert temporary.parent == project / ".dlt" and path.resolve() == project / ".dlt/secrets.toml"
    assert temporary.name.startswith(".secrets.") and temporary.name.endswith(".tmp")
    assert len(temporary.name) > len(".secrets..tmp")


def test_a_project_folder_named_by_dlt_project_dir_is_made_for_its_secrets(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLT_PROJECT_DIR", str(project / "new" / "project"))
    store_secret(7, "s-7")
    assert secrets_file() == project / "new" / "project" / ".dlt" / "secrets.toml"
    assert tomlkit.parse(secrets_file().read_text()) == {
        "sources": {"timetrack": {"webhooks": {"secrets": {"7": "s-7"}}}}
    }
