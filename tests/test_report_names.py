"""`timetrack report` with hostile names: markup, links, huge fonts, outside URLs, 500-character
names, right-to-left overrides and control characters in project, client and person names (and
a currency), synced from the emulator and rendered in Chromium.

The page must show every name literally, fetch nothing (a local server of the test's own
counts the attempts, Playwright sees every request), keep its plot areas whatever the names'
length, and carry a Content-Security-Policy that would block a fetch if one slipped through.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import TOKEN, LocalServer, fast_options
from tests.test_report import CHROMIUM, WEEKS, _today
from tests.truth import expected_entries
from timetrack.answers.report import (
    content_security_policy,
    hover_label,
    open_pipeline,
    plain,
    short_label,
    write_report,
)
from timetrack.destination.target import resolve_target
from timetrack.emulator import EmulatorConfig, EmulatorServer
from timetrack.run.pipeline import run

CHARTS = ["chart-projects", "chart-weeks", "chart-clients", "chart-money"]


# --- the name functions alone --------------------------------------------------------------------


def test_a_name_is_plain_text_in_plotly_markup() -> None:
    assert short_label('<b style="font-size:200px">BIG</b>') == (
        '&lt;b style="font-size:200px"&gt;BIG&lt;/b&gt;'
    )
    # Entities stay text: Plotly decodes entities once, so "&amp;amp;" shows as "&amp;".
    assert short_label("Tom &amp; Jerry &#8238;") == "Tom &amp;amp; Jerry &amp;#8238;"
    assert plain("Payroll \u202etxt.exe") == "Payroll txt.exe"
    assert plain("\u2066a\u2069\u200eb\u200f\u061cc\u202a\u202bd\u202c\u202de") == "abcde"
    assert plain("tab\there\x00nul\x1b[31m\x85next\u2028line\ud800 ") == "tab herenul[31m next line"
    assert short_label("\u202e\x00") == "(no name)"
    assert short_label("Q" * 500) == "Q" * 39 + "\u2026"
    assert short_label("Quarterly " * 50) == "Quarterly " * 3 + "Quarterly\u2026"
    assert short_label("x" * 40) == "x" * 40
    assert short_label("\u6642" * 25) == "\u6642" * 19 + "\u2026"  # wide: two columns each
    assert short_label("<" * 45) == "&lt;" * 39 + "\u2026"  # cut before escaping
    lines = hover_label("<i>" + "word " * 130).split("<br>")
    assert lines[0].startswith("&lt;i&gt;word") and "<" not in "".join(lines)
    # 653 characters cut to 600, in lines of at most 60 (+6 for the escaped "<i>"): 11 lines.
    assert all(len(line) <= 60 + 6 for line in lines) and len(lines) == 11


def test_the_policy_allows_the_pages_scripts_by_hash_and_nothing_to_fetch() -> None:
    policy = content_security_policy("<script>a()</script><p>x</p><script id=x>b()</script>")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == (
        # sha256 of "a()" and "b()"
        "'sha256-cf242PFc/kb7xD0Qzhsmd9vvRkc+cWFmbi+k+YvtdKc=' "
        "'sha256-qVpDBgj7bpq5hMAcGp3AOc79J3Y1Z4HvySTwKrWDoy4='"
    )
    assert directives["img-src"] == "data: blob:" and directives["style-src"] == "'unsafe-inline'"
    assert "unsafe-eval" not in policy and "http" not in policy and "connect-src" not in policy


# --- a synced dataset with hostile names ---------------------------------------------------------


class Trap(LocalServer):
    """Where every URL in the names points: counts whatever reaches it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _hit(self) -> None:
                trap.hits.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_OPTIONS = _hit

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)


def hostile_names(trap: str) -> dict[str, tuple[str, str]]:
    """Each name, how an axis or a legend must show it and how a hover box must (as text, not
    as markup; the hover box whole, in lines)."""
    fetch = f'<i style="background:url({trap}/i)">x</i>'
    assert len(fetch) <= 60, "on one hover line, so that a fetch would happen if it were read"
    big = '<b style="font-size:200px">BIG</b>'
    link = '<a href="http://example.test/">go</a>'
    entities = "Tom &amp; Jerry &#8238; %{y}<br>"
    return {
        fetch: ('<i style="background:url(http://127.0.0\u2026', fetch),
        big: (big, big),
        link: (link, link),
        "Quarterly " * 50: ("Quarterly " * 3 + "Quarterly\u2026", "Quarterly " * 50),
        "Payroll \u202etxt.exe": ("Payroll txt.exe", "Payroll txt.exe"),
        "Tabs\tand\x00nul\x1b[31mred\x85end": ("Tabs andnul[31mred end", "Tabs andnul[31mred end"),
        entities: (entities, entities),
    }


class Hostile:
    """The report of a sync in which the busiest projects, clients and people carry hostile
    names, what each chart must show of them (label, whole name on hover) and the trap the
    names point at."""

    def __init__(
        self,
        page: Path,
        trap: Trap,
        expected: dict[str, list[tuple[str, str]]],
        entries: int,
    ) -> None:
        self.page = page
        self.trap = trap
        self.expected = expected
        self.entries = entries


def _busiest(server: EmulatorServer, today: date) -> dict[str, list[Any]]:
    """Project, client and user ids by their hours in the report's weeks, most first."""
    monday = today - timedelta(days=today.weekday())
    weeks = {monday - timedelta(weeks=n) for n in range(WEEKS)}
    hours: dict[str, dict[Any, float]] = defaultdict(lambda: defaultdict(float))
    for row in expected_entries(server.base_url, TOKEN).values():
        if row["week"] in weeks:
            for key in ("project_id", "client_id", "user_id"):
                if row[key] is not None:
                    hours[key][row[key]] += row["seconds"] or 0
    return {key: sorted(ids, key=lambda i: -ids[i]) for key, ids in hours.items()}


def _renames(
    names: dict[str, tuple[str, str]], busiest: dict[str, list[Any]]
) -> tuple[dict[str, dict[Any, str]], dict[str, list[tuple[str, str]]]]:
    """Which project, client and user takes which name, and what each chart must show."""
    projects = dict(zip(busiest["project_id"], names, strict=False))
    clients = dict(zip(busiest["client_id"], list(names)[:5], strict=False))
    # A name that differs from another only past the cut: two labels, not one bar.
    twin = "Quarterly " * 49 + "Quarterly!"
    clients[busiest["client_id"][5]] = twin
    people = dict(zip(busiest["user_id"], names, strict=False))
    # Two people of one name: two rows, each with its id, not one row of one of them.
    same = busiest["user_id"][len(names) : len(names) + 2]
    people.update({user: "Sam Same" for user in same})
    expected = {
        "projects": [names[name] for name in projects.values()],
        "clients": [names[name] for name in list(clients.values())[:-1]]
        + [("Quarterly " * 3 + "Quarterly\u2026 (2)", twin)],
        "people": [names[name] for name in list(people.values())[: len(names)]]
        + [(f"Sam Same (user {user})", "Sam Same") for user in same],
    }
    return {"projects": projects, "clients": clients, "people": people}, expected


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    with EmulatorServer(EmulatorConfig(seed=7)) as server, Trap() as trap:
        today = _today(server)
        renames, expected = _renames(hostile_names(trap.base_url), _busiest(server, today))
        for entity in ("projects", "clients"):
            for item, name in renames[entity].items():
                reply = requests.patch(
                    f"{server.base_url}/_emulator/{entity}/{item}", json={"name": name}, timeout=30
                )
                assert reply.status_code == 200, reply.text
        data = server.emulator.data  # people and currencies have no admin endpoint
        for user, name in renames["people"].items():
            data.users[user].fullname = name
        currency = f'<img src="{trap.base_url}/c">'
        for workspace in data.workspaces.values():
            workspace.default_currency = currency
        data.touch()

        options = fast_options(server.base_url, root, dataset="tt")
        summary = run(options)
        assert summary.exit_code == 0, summary.lines()
        place = resolve_target(options.destination, "tt", name="reader", pipelines_dir=str(root))
        page = root / "hostile.html"
        reader = open_pipeline(place, str(root / "reader"))
        report = write_report(reader, page, WEEKS, today, end=today)
        assert currency in {line.currency for line in report.current()}
        yield Hostile(page, trap, expected, report.entries)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module's pages (a launch costs seconds; a page, milliseconds)."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Chromium is missing: .ci/run installs Debian's chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


_DRAWN = """ids => ids.map(id => {
    const chart = document.getElementById(id);
    const area = chart.querySelector('.nsewdrag').getBoundingClientRect();
    return {
        id: id,
        width: chart.getBoundingClientRect().width,
        area: [area.width, area.height],
        marks: chart.querySelectorAll('.trace.bars .point path, .scatter .point').length,
        legend: [...chart.querySelectorAll('.legendtext')].map(t => t.textContent),
        ticks: [...chart.querySelectorAll('.ytick text')].map(t => t.textContent),
        links: chart.querySelectorAll('a').length,
        styled: [...chart.querySelectorAll('.main-svg tspan[style]')].map(t => t.outerHTML),
    };
})"""

_HOVERS = """async () => {
    const pause = () => new Promise(done => setTimeout(done, 80));
    const texts = {};
    for (const id of ['chart-projects', 'chart-clients']) {
        const chart = document.getElementById(id);
        texts[id] = [];
        // Every bar of the ranked projects and clients.
        chart.data[0].y.forEach((_, row) => texts[id].push([0, row]));
        const points = texts[id];
        texts[id] = [];
        for (const [curve, row] of points) {
            Plotly.Fx.hover(chart, [{curveNumber: curve, pointNumber: row}]);
            await pause();
            const layer = chart.querySelector('.hoverlayer');
            texts[id].push(layer ? layer.textContent : '');
        }
        Plotly.Fx.unhover(chart);
    }
    return texts;
}"""


def _squeezed(text: str) -> str:
    """Hover text as compared: without white space, which line breaks move."""
    return re.sub(r"\s+", "", text)


_ATTEMPTS = """async url => {
    const results = {};
    try { await fetch(url + '/fetch'); results.fetch = 'sent'; }
    catch (error) { results.fetch = 'blocked'; }
    const image = new Image();
    results.image = await new Promise(done => {
        image.onload = () => done('loaded');
        image.onerror = () => done('blocked');
        image.src = url + '/image';
    });
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
    results.script = window.injected ? 'ran' : 'blocked';
    return results;
}"""


class Shown:
    """What Chromium showed of the hostile page, in one load of it (a load of its inlined
    Plotly costs seconds of CPU): the charts as drawn, every hover box of the ranked charts, the
    people's cells, the page's text and screenshot, a chart downloaded as PNG through the
    modebar, then what the policy did to a fetch, an image and a script tried from the page.
    The download comes before the attempts: their blocked messages are console errors."""

    def __init__(self, hostile: Hostile, browser: Any, root: Path) -> None:
        messages: list[str] = []
        requested: list[str] = []
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: messages.append(str(error)))
        page.on("request", lambda r: requested.append(r.url))
        page.goto(hostile.page.as_uri())
        for chart in CHARTS:
            page.wait_for_selector(f"#{chart} .main-svg", timeout=30_000)
        self.drawn = {chart["id"]: chart for chart in page.evaluate(_DRAWN, CHARTS)}
        self.hovers: dict[str, list[str]] = page.evaluate(_HOVERS)
        self.people: list[list[str]] = page.evaluate(
            """() => [...document.querySelectorAll('#people-all td.name')].map(
                cell => [cell.textContent, cell.title])"""
        )
        self.screenshot = root / "hostile.png"
        page.screenshot(path=str(self.screenshot), full_page=True)
        self.text = page.inner_text("body")
        # Requests other than the page itself, while it loaded, drew and hovered.
        self.fetched = [url for url in requested if url != hostile.page.as_uri()]

        page.hover("#chart-projects")
        with page.expect_download(timeout=30_000) as download:
            page.click('#chart-projects [data-title="Download plot as a PNG"]')
        self.png = root / "projects.png"
        download.value.save_as(self.png)
        self.problems = list(messages)  # errors of the load, the reading and the download

        self.attempts = page.evaluate(_ATTEMPTS, hostile.trap.base_url)
        self.blocked = messages[len(self.problems) :]
        page.close()
        self.hits = list(hostile.trap.hits)  # after everything the page did or tried


@pytest.fixture(scope="module")
def shown(hostile: Hostile, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Shown:
    return Shown(hostile, browser, tmp_path_factory.mktemp("shown"))


def test_hostile_names_show_literally_and_fetch_nothing(hostile: Hostile, shown: Shown) -> None:
    assert not shown.problems, shown.problems
    assert not shown.fetched, f"the page fetched: {shown.fetched}"
    assert not shown.hits, f"the page reached the trap: {shown.hits}"
    for chart in shown.drawn.values():
        width, height = chart["area"]
        assert chart["marks"] > 0 and chart["width"] > 300, (chart["id"], chart["width"])
        # The plot area keeps most of the chart's width whatever the names' length.
        assert width > 0.55 * chart["width"] and height > 150, (chart["id"], chart["area"])
        assert chart["links"] == 0 and not chart["styled"], (chart["id"], chart["styled"])

    shown_ticks = {
        "projects": shown.drawn["chart-projects"]["ticks"],
        "clients": shown.drawn["chart-clients"]["ticks"],
    }
    # People are rows of a table: the name whole, as text (the style sheet cuts it).
    people = shown.people
    names = {text for text, _ in people}
    for label, whole in hostile.expected["people"]:
        wanted = label if label.startswith("Sam Same") else " ".join(whole.split())
        assert wanted in names, (wanted, names)
    assert people and all(title in ("", text) for text, title in people)
    assert any(title == text and len(text) > 100 for text, title in people)
    for kind in ("projects", "clients"):
        hovers = _squeezed(" ".join(shown.hovers[f"chart-{kind}"]))
        for label, whole in hostile.expected[kind]:
            assert label in shown_ticks[kind], (kind, label, shown_ticks[kind])
            assert _squeezed(whole) in hovers, (kind, whole)
    text = shown.text
    assert f'<img src="{hostile.trap.base_url}/c">' in text
    # The page as a team lead reads it (once test_report's own Chromium test): the number of
    # entries, where they come from, and the week in progress marked.
    assert f"{hostile.entries:,}" in text, "the entries' count is shown"
    assert "report_time_entries" in text, "the table the numbers come from is named"
    assert "(partial)" in text, "the week in progress is marked partial"
    assert shown.screenshot.stat().st_size > 50_000


def test_the_policy_blocks_what_would_slip_through(shown: Shown) -> None:
    attempts = shown.attempts
    assert attempts == {"fetch": "blocked", "image": "blocked", "script": "blocked"}, attempts
    assert not shown.hits, shown.hits
    assert any("Content Security Policy" in message for message in shown.blocked), shown.blocked


def test_the_charts_still_download_as_png_under_the_policy(shown: Shown) -> None:
    assert not shown.problems, shown.problems
    assert shown.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shown.png.stat().st_size > 20_000


def test_hostile_names_reach_the_page_only_escaped(hostile: Hostile) -> None:
    page = hostile.page.read_text(encoding="utf-8")
    assert page.count('http-equiv="Content-Security-Policy"') == 1
    assert page.index("Content-Security-Policy") < page.index("<script")
    # Plotly's JSON writes "<" as \u003c: a name that reached it unescaped would show so.
    assert "\\u003cb style=" not in page and "&lt;b style=" in page
    assert '<b style="font-size:200px">' not in page  # the tables' cells are HTML
    assert '<img src="http' not in page and "\u202e" not in page.lower()
    assert "&lt;img src=&quot;" + hostile.trap.base_url in page  # the currency, in the card
