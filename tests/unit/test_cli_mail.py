"""`foi-mailbot classify` and `foi-mailbot ingest` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from foi_mailbot.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures"
runner = CliRunner()


def test_classify_prints_one_json_object_per_file_without_a_database(tmp_path: Path) -> None:
    """Each line has file, kind, reference and reasons; no database is created."""
    files = [FIXTURES / "new_request_plain_foia.eml", FIXTURES / "auto_reply_outlook_ooo.eml"]

    result = runner.invoke(
        app, ["classify", "--mailbox", "foi@example.gov.uk", "--staff-domain", "example.gov.uk",
              *map(str, files), "--json"],
        env={"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)},
    )

    assert 0 == result.exit_code, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert ["new_request", "auto_reply"] == [r["kind"] for r in rows]
    assert all({"file", "kind", "reference", "reasons"} <= set(r) for r in rows)
    assert not list(tmp_path.iterdir())


def test_ingest_stores_processes_and_summarises(tmp_path: Path) -> None:
    """Importing files opens cases and prints a summary; a second import stores nothing new.

    The fixtures arrived months ago (their Received headers): no letter goes by itself."""
    env = {"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)}
    files = [str(p) for p in sorted(FIXTURES.glob("new_request_*.eml"))[:3]]

    first = runner.invoke(app, ["ingest", *files], env=env)
    second = runner.invoke(app, ["ingest", *files], env=env)
    listed = runner.invoke(app, ["cases", "list", "--json"], env=env)

    assert 0 == first.exit_code, first.output
    assert "3 stored" in first.output
    assert "0 stored, 3 already stored" in second.output
    assert 3 == len(json.loads(listed.output))
    assert [] == list((tmp_path / "outgoing").glob("*.eml"))
    assert {"letter held"} == {case["hold"] for case in json.loads(listed.output)}


def test_ingest_of_a_missing_path_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    """A path that doesn't exist is named."""
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.mbox")])

    assert 2 == result.exit_code
    assert "no such file" in result.output


def test_classify_json_reports_the_action_outcome_and_sections_of_staff_mail(
    tmp_path: Path,
) -> None:
    """Staff mail carries what it does to its case; other mail has no action fields."""
    corpus = FIXTURES / "staff_corpus"
    files = [corpus / "respond_refused_s31_and_s24_cctv.eml",
             corpus / "clarify_which_station_road.eml", FIXTURES / "new_request_plain_foia.eml"]

    result = runner.invoke(
        app, ["classify", "--mailbox", "foi@example.gov.uk", "--staff-domain", "example.gov.uk",
              *map(str, files), "--json"],
        env={"FOI_MAILBOT_PATHS__DATA_DIR": str(tmp_path)},
    )

    assert 0 == result.exit_code, result.output
    refusal, question, request = (json.loads(line) for line in result.output.splitlines())
    assert ("respond", "refused", ["section 24(1)", "section 31(1)(a)"]) == (
        refusal["action"], refusal["outcome"], refusal["sections"])
    assert ("clarify", None) == (question["action"], question["outcome"])
    assert question["action_reasons"]
    assert "action" not in request
