"""The shipped workflows as a user meets them: the real ComfyUI frontend (comfyui-frontend-package 1.48.7 on the
default host, ComfyUI 0.33.0; 1.32.9 on ComfyUI 0.3.75), served by the real server, in headless Chromium (the
system's, e.g. Debian's `chromium`), driven by Playwright. The two frontends differ in how they show things (dialogs,
side bar, how missing models are reported); the test finds its way by what the page offers, not by version numbers.

For every workflows/*.json, opened from the template browser like a user does:
- the graph loads with no missing-node dialog, no link repairs or validation toasts, no console error and no failed
  request to the server, and every link in the live graph joins existing slots of compatible types;
- the Missing Models dialog (1.32), or the Missing Models group of the errors panel that 1.48's error overlay opens,
  names exactly the models the workflow's loaders declare (none are installed here); 1.48 also marks those loaders as
  errors before a run: accepted there only, for exactly those models, and any other error on any node fails;
- the values small_job() (test_workflows.py) swaps into the API prompt are set on the widgets (as the canvas sets a
  value a user edits), after which no node is marked as an error and the UI's own prompt equals small_job's; Run is
  clicked, the request the UI sends is that prompt, and the video appears on the FramesToVideo node and is decoded
  by the browser.
Last, the template browser lists every workflow under the pack with its thumbnail (workflows/<stem>.jpg).

Screenshots (test artifacts): <stem>-loaded.jpg (as the template opens) and <stem>-ran.jpg (after the run, with the
preview) in $T2VZ_ARTIFACTS, else in pytest's tmp dir. T2VZ_UPDATE_SCREENSHOTS=1 also writes the loaded one to
workflows/<stem>.jpg, which is the template browser's thumbnail and the README gallery's picture.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest

from conftest import COMFY
from test_workflows import needs_runnable, small_job

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
UPDATE_SCREENSHOTS = os.environ.get("T2VZ_UPDATE_SCREENSHOTS") == "1"
VIEWPORT = {"width": 1600, "height": 1000}
FIX_SCREENSHOTS = "Fix: T2VZ_UPDATE_SCREENSHOTS=1 .host/venv/bin/python -m pytest tests/test_browser.py"

# Console errors this machine causes and a user's would not: there is no internet here, so the frontend's calls to
# api.comfy.org and the Missing Models dialog's size check of the download URL fail.
OFFLINE_NOISE = [re.compile(r"^Failed to load resource: net::ERR_"), re.compile(r"^Error fetching file size: ")]
THUMBNAIL = re.compile(r"/api/workflow_templates/[^/]+/[^/]+\.jpg$")


def chromium_executable() -> str:
    for candidate in (os.environ.get("T2VZ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail("No Chromium found (looked for $T2VZ_CHROMIUM, chromium, chromium-browser, google-chrome). Fix: "
                "`make test` installs Debian's chromium (scripts/install_chromium.sh), or `apt-get install chromium`, or "
                "set T2VZ_CHROMIUM to a Chromium/Chrome executable.")


def pack_folder() -> str:
    """The pack's folder name in the host's custom_nodes (the template browser's category)."""
    for entry in (COMFY / "custom_nodes").iterdir():
        if entry.resolve() == REPO:
            return entry.name
    pytest.fail(f"this repository is not linked into {COMFY / 'custom_nodes'}. Fix: bash scripts/install_host.sh")


class UI:
    """One page of the frontend, with what it logged since the last check."""

    def __init__(self, page, server):
        self.page, self.server = page, server
        self.errors: list[str] = []
        self.user_files: set[str] = set()  # input files the open workflow names (see _expected_missing)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught exception: {exc}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type != "error" or any(p.search(message.text) for p in OFFLINE_NOISE):
            return
        if not self._expected_missing(message.location.get("url", "")):
            self.errors.append(f"console error: {message.text[:1000]}")

    def _response(self, response) -> None:
        if response.url.startswith(self.server.url) and response.status >= 400 \
                and not self._expected_missing(response.url):
            self.errors.append(f"HTTP {response.status} {response.url}")

    def _expected_missing(self, url: str) -> bool:
        """A missing thumbnail is test_template_browser_shows_every_workflow_with_its_thumbnail's finding; the preview
        of an input file the workflow names (the user's own video, put into input/) is missing until one is there."""
        if THUMBNAIL.search(url):
            return True
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        return parts.path == "/api/view" and query.get("type") == ["input"] \
            and query.get("filename", [""])[0] in self.user_files

    def take_errors(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors

    def open_templates(self):
        """Sidebar -> Templates -> the pack's category, as a user does. Returns the dialog."""
        dialog = template_dialog(self.page)
        if dialog.is_visible():  # left open by a test that failed midway: every test starts from the canvas
            self.close_templates()
        bar = self.page.locator(".side-tool-bar-container")
        # 1.32: a .templates-tab-button; 1.48: a plain side bar button whose name is "Templates"
        bar.locator(".templates-tab-button").or_(bar.get_by_role("button", name="Templates", exact=True)).first.click()
        dialog.wait_for()
        dialog.get_by_text(pack_folder(), exact=True).click()
        return dialog

    def close_templates(self) -> None:
        """The template browser's close button (Escape does not close it)."""
        dialog = template_dialog(self.page)
        dialog.locator("button:has(i.pi-times)").click()
        dialog.wait_for(state="hidden")

    def open_template(self, stem: str) -> None:
        """Click the workflow's card once its thumbnail shows, as a user clicks the picture they see: a card shows a
        placeholder until its thumbnail has loaded, and a press on the placeholder released on the picture that
        replaced it is no click (seen on a slow machine: the dialog stayed open). The dialog closes as the workflow
        loads."""
        dialog = self.open_templates()
        card = shown_card(dialog, stem)
        self.take_errors()
        card.click()
        dialog.wait_for(state="hidden")

    def check_missing_models(self, missing: list[dict]) -> None:
        """What the frontend shows a user who opens a workflow whose models are not installed must name exactly those
        models: 1.32 opens its Missing Models dialog; 1.48 shows an error overlay whose "View details" opens the
        errors tab of the right side panel, where a Missing Models group lists them (and nothing else may be listed).
        Both are closed again, as a user would, before the graph is looked at."""
        page = self.page
        models_dialog = page.locator('[aria-labelledby="global-missing-models-warning"]')
        overlay = page.get_by_test_id("error-overlay")
        models_dialog.or_(overlay).first.wait_for()
        if models_dialog.is_visible():
            text = models_dialog.inner_text()
            for model in missing:
                assert f"{model['directory']} / {model['name']}" in text, text
            assert text.count(" / ") == len(missing), text
            page.keyboard.press("Escape")
            models_dialog.wait_for(state="hidden")
            return
        overlay.get_by_test_id("error-overlay-see-errors").click()
        panel = page.get_by_test_id("properties-panel")
        group = panel.get_by_test_id("error-group-missing-model")
        group.wait_for()
        groups = [g.get_attribute("data-testid") for g in panel.locator('section[data-testid^="error-group-"]').all()]
        assert groups == ["error-group-missing-model"], f"errors besides missing models: {panel.inner_text()}"
        text = group.inner_text()
        # a model's row: its name (the element titled with it), then its folder
        names = group.evaluate("g => [...g.querySelectorAll('[title]')].filter(e => e.textContent.trim() === e.title)"
                               ".map(e => e.title)")
        assert sorted(names) == sorted(m["name"] for m in missing), text
        for model in missing:
            assert f"{model['name']}\n{model['directory']}" in text, text
        page.get_by_role("button", name="Toggle properties panel", exact=True).click()
        panel.wait_for(state="hidden")
        # off the button (its tooltip would be in the screenshot), onto the empty middle of the side bar (a workflow
        # tab or a node would show a popover or tooltip too)
        page.mouse.move(20, VIEWPORT["height"] / 2)
        overlay.wait_for(state="hidden")

    def fit_view(self) -> None:
        """Zoom the graph to fill the canvas between the side bar, the top bars and the bottom controls (the
        frontend's own Fit View leaves wide margins, which makes the screenshots' text small)."""
        self.page.evaluate(FIT_VIEW, [76, 110, 24, 72])
        self.page.wait_for_timeout(300)  # a frame or two for the canvas to redraw before a screenshot

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), type="jpeg", quality=85)


def template_dialog(page):
    """The template browser: the global dialog labelled by its key (a PrimeVue dialog in 1.32, a Reka one in 1.48;
    both carry aria-labelledby="<dialog key>")."""
    return page.locator('[aria-labelledby="global-workflow-template-selector"]')


def shown_card(dialog, stem: str):
    """The workflow's card in the template browser, scrolled into view and with its thumbnail loaded and decoded
    (thumbnails load lazily, when visible; 'default-' is the frontend's stand-in picture)."""
    card = dialog.get_by_test_id(f"template-workflow-{stem}")
    card.scroll_into_view_if_needed()
    image = card.locator("img").first
    image.wait_for()
    dialog.page.wait_for_function("img => img.complete && img.naturalWidth > 0 && !img.src.includes('default-')",
                                  arg=image.element_handle())
    return card


# Every kind of dialog either frontend opens: PrimeVue's (.p-dialog) and Reka's ([role=dialog]).
DIALOGS = ".p-dialog, [role=dialog], [role=alertdialog]"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ["T2VZ_ARTIFACTS"]) if os.environ.get("T2VZ_ARTIFACTS") else \
        tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def object_info(comfy_server):
    return comfy_server.get("/object_info")


@pytest.fixture(scope="module")
def ui(comfy_server):
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed. Fix: `make test`, or pip install -r tests/requirements.txt into the "
                    "host venv (the system Chromium is used: no `playwright install` needed).")
    # What a stock ComfyUI's input folder holds (example.png, which LoadImage in templates names) is there too.
    for stock in (COMFY / "input").glob("*"):
        if stock.is_file() and not (comfy_server.input_dir / stock.name).exists():
            shutil.copyfile(stock, comfy_server.input_dir / stock.name)
    # The video workflows' Load Video names video.mp4, the clip a user uploads first (a stock folder has no video;
    # without it the node's preview is a 404, as for a user who has not uploaded one yet).
    if not (comfy_server.input_dir / "video.mp4").exists():
        from tiny_ip2p import moving_square_frames, write_video

        write_video(comfy_server.input_dir / "video.mp4", moving_square_frames(6, 64, 64), fps=4)
    # A new user: the frontend opens its template browser on the first visit. Validation, the missing-node/model
    # dialogs (1.32) and the errors tab (1.48) are on (their defaults, set so that a changed default cannot hide a
    # problem); for the screenshots the minimap is off (it covers part of the graph) and so is the zoomed-out level of
    # detail (it drops all text).
    comfy_server.post("/settings", {"Comfy.TutorialCompleted": False, "Comfy.Validation.Workflows": True,
                                    "Comfy.Workflow.ShowMissingNodesWarning": True,
                                    "Comfy.Workflow.ShowMissingModelsWarning": True,
                                    "Comfy.RightSidePanel.ShowErrorsTab": True, "Comfy.Minimap.Visible": False,
                                    "LiteGraph.Canvas.MinFontSizeForLOD": 0})
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to run as root with its sandbox (CI containers run as root)
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--mute-audio"])
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60_000)
        ui = UI(page, comfy_server)
        page.goto(comfy_server.url)
        page.wait_for_function("window.app && window.app.graph && window.app.canvas")
        template_dialog(page).wait_for()  # a first visit opens the template browser
        ui.close_templates()
        banner = page.get_by_text("Introducing Nodes 2.0")  # an announcement bar: closed, as a user would
        if banner.count():
            banner.locator("xpath=../..").locator("button").last.click()
        ui.take_errors()  # the page's own start-up (a 404 for the optional user.css, ...) is not the workflows'
        yield ui
        browser.close()


def declared_models(workflow: dict) -> list[dict]:
    """The models the workflow's nodes name for download ("models" properties), as the frontend collects them."""
    found = {}
    for node in workflow["nodes"]:
        for model in node.get("properties", {}).get("models", []):
            found.setdefault(model.get("url") or model.get("hash"), model)
    return list(found.values())


FIT_VIEW = """([left, top, right, bottom]) => {
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const node of app.graph.nodes) {
        x0 = Math.min(x0, node.pos[0]); y0 = Math.min(y0, node.pos[1] - title);
        x1 = Math.max(x1, node.pos[0] + node.size[0]); y1 = Math.max(y1, node.pos[1] + node.size[1]);
    }
    const rect = app.canvas.canvas.getBoundingClientRect();
    const width = rect.width - left - right, height = rect.height - top - bottom;
    const ds = app.canvas.ds, scale = Math.min(width / (x1 - x0), height / (y1 - y0), 1.25);
    ds.scale = scale;
    ds.offset[0] = (left + (width - scale * (x1 - x0)) / 2) / scale - x0;
    ds.offset[1] = (top + (height - scale * (y1 - y0)) / 2) / scale - y0;
    app.canvas.setDirty(true, true);
}"""

# Why the frontend marks nodes as errors (has_errors) before a run. 1.48 keeps that in its stores: models the server
# lacks, missing input media, missing node types, the server's validation errors; null where the frontend keeps no
# such record (1.32, which marks nodes only after a run the server rejected).
ERROR_RECORDS = """
    function errorRecords() {  // the frontend's Pinia stores, through the Vue app on #vue-app
        const pinia = document.querySelector('#vue-app')?.__vue_app__?.config?.globalProperties?.$pinia;
        const store = id => pinia?._s?.get(id), models = store('missingModel');
        if (!models) return null;
        const media = store('missingMedia'), nodes = store('missingNodesError'), run = store('executionError');
        const other = [], json = v => JSON.stringify(v).slice(0, 500);
        if (media?.missingMediaCandidates?.length) other.push(`missing media: ${json(media.missingMediaCandidates)}`);
        if (nodes?.missingNodesError) other.push(`missing nodes: ${json(nodes.missingNodesError)}`);
        if (run?.lastNodeErrors) other.push(`node errors: ${json(run.lastNodeErrors)}`);
        if (run?.lastPromptError) other.push(`prompt error: ${json(run.lastPromptError)}`);
        if (run?.lastExecutionError) other.push(`execution error: ${json(run.lastExecutionError)}`);
        return {other, models: (models.missingModelCandidates || []).map(
            m => ({node: String(m.nodeId), model: `${m.directory}/${m.name}`}))};
    }"""

GRAPH_PROBLEMS = """(expected) => {""" + ERROR_RECORDS + """
    const graph = app.graph, problems = [], records = errorRecords();
    const links = graph.links instanceof Map ? [...graph.links.values()] : Object.values(graph.links);
    for (const node of graph.nodes) {
        if (!LiteGraph.registered_node_types[node.type]) problems.push(`node ${node.id}: type ${node.type} unknown`);
        // accepted only on a loader whose errors are exactly the missing models the workflow declares for it
        const why = (records?.models || []).filter(m => m.node === String(node.id)).map(m => m.model).sort();
        const declared = (expected.missing[String(node.id)] || []).slice().sort();
        if (node.has_errors && !(records && declared.length && JSON.stringify(why) === JSON.stringify(declared)))
            problems.push(`node ${node.id} (${node.type}) has errors` +
                          (records ? ` (missing models ${why}; the workflow declares ${declared})` : ''));
        for (const [slot, input] of (node.inputs || []).entries())
            if (input.link != null && !links.some(l => l.id === input.link))
                problems.push(`node ${node.id} input ${slot} points at missing link ${input.link}`);
    }
    if (records) {  // and every such loader is marked, and nothing else is recorded
        problems.push(...records.other);
        for (const [id, declared] of Object.entries(expected.missing))
            if (!graph.getNodeById(Number(id))?.has_errors) problems.push(`node ${id}: missing ${declared} not marked`);
        for (const m of records.models)
            if (!(expected.missing[m.node] || []).includes(m.model))
                problems.push(`missing model ${m.model} on node ${m.node}: not one the workflow declares there`);
    }
    for (const link of links) {
        const source = graph.getNodeById(link.origin_id), target = graph.getNodeById(link.target_id);
        const output = source?.outputs?.[link.origin_slot], input = target?.inputs?.[link.target_slot];
        if (!output || !input) { problems.push(`link ${link.id} joins missing slots`); continue; }
        if (input.link !== link.id) problems.push(`link ${link.id}: its input holds link ${input.link}`);
        if (!(output.links || []).includes(link.id)) problems.push(`link ${link.id}: not listed on its output`);
        if (!LiteGraph.isValidConnection(output.type, input.type))
            problems.push(`link ${link.id}: ${output.type} into ${input.type}`);
        if (![output.type, '*'].includes(link.type))
            problems.push(`link ${link.id} says ${link.type}, carries ${output.type}`);
    }
    const saved = graph.serialize();
    if (saved.nodes.length !== expected.nodes) problems.push(`${saved.nodes.length} nodes, file has ${expected.nodes}`);
    const key = l => JSON.stringify(l.slice(0, 6));
    const got = saved.links.map(key).sort(), want = expected.links.map(key).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`links changed on load: ${got} vs ${want}`);
    return problems;
}"""

ERRORS_LEFT = """() => {""" + ERROR_RECORDS + """
    const records = errorRecords();
    return [...app.graph.nodes.filter(n => n.has_errors).map(n => `node ${n.id} (${n.type}) has errors`),
            ...(records?.models || []).map(m => `missing model ${m.model} on node ${m.node}`),
            ...(records?.other || [])];
}"""

SET_WIDGETS = """(changes) => {
    const missing = [];
    for (const [id, name, value, unlink] of changes) {
        const node = app.graph.getNodeById(Number(id));
        let widget = node?.widgets?.find(w => w.name === name);
        const slot = (node?.inputs || []).findIndex(i => (i.widget?.name ?? i.name) === name && i.link != null);
        const link = slot < 0 ? null : app.graph.links instanceof Map ? app.graph.links.get(node.inputs[slot].link)
                                                                      : app.graph.links[node.inputs[slot].link];
        let owner = node;
        if (link && unlink) node.disconnectInput(slot);  // the user's way to type a value into a linked widget
        else if (link) {  // a widget fed by a PrimitiveNode: the primitive's value is the one that is sent
            owner = app.graph.getNodeById(link.origin_id);
            widget = owner?.widgets?.[0];
        }
        if (!widget) { missing.push(`${id}.${name}`); continue; }
        if (widget.setValue)  // what the canvas does when a user edits a widget: callback, then onWidgetChanged
            widget.setValue(value, {e: undefined, node: owner, canvas: app.canvas});
        else {
            widget.value = value;
            widget.callback?.(value, app.canvas, owner);
        }
    }
    app.graph.setDirtyCanvas(true, true);
    return missing;
}"""

PREVIEW_SHOWN = """([ids, files]) => ids.every((id, i) => {
    const node = app.graph.getNodeById(id);
    const media = [...(node.videoContainer?.querySelectorAll('video') || []), ...(node.imgs || [])];
    const shown = media.find(m => decodeURIComponent(m.src || '').includes(`filename=${files[i]}`));
    // decoded by the browser: a video with its first frame (readyState >= 2), an image with its size
    return shown && (shown.tagName === 'VIDEO' ? shown.readyState >= 2 && shown.videoWidth > 0
                                                : shown.complete && shown.naturalWidth > 0);
})"""


def api_prompt(page) -> dict:
    return page.evaluate("async () => (await app.graphToPrompt()).output")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_loads_and_runs_from_the_ui(ui, comfy_server, object_info, artifacts, path):
    page, stem = ui.page, path.stem
    workflow = json.loads(path.read_text())

    # --- open it from the template browser
    ui.user_files = {v for n in workflow["nodes"] if isinstance(n.get("widgets_values"), list)
                     for v in n["widgets_values"] if isinstance(v, str) and v}
    ui.user_files -= {p.name for p in (COMFY / "input").glob("*")}  # a stock ComfyUI has these (example.png)
    ui.open_template(stem)
    page.wait_for_function("([n, name]) => app.graph.nodes.length === n && "
                           "app.extensionManager.workflow.activeWorkflow?.filename === name",
                           arg=[len(workflow["nodes"]), stem])
    missing = [m for m in declared_models(workflow)
               if m["name"] not in comfy_server.get(f"/models/{m['directory']}")]
    if missing:
        ui.check_missing_models(missing)
    page.wait_for_timeout(500)  # let any other dialog or toast of the load render before looking for it
    dialogs = page.locator(DIALOGS)
    assert not [d.inner_text()[:500] for d in dialogs.all() if d.is_visible()], "unexpected dialog after loading"
    # PrimeVue's toasts (both), and 1.48's error overlay (what it shows instead of the missing-node/model dialogs)
    toasts = [t.inner_text() for t in page.locator('.p-toast-message, [data-testid="error-overlay"]').all()]
    assert not toasts, f"the frontend reported on loading {stem}: {toasts}"
    # The loaders that name a missing model: the only nodes 1.48 may mark as errors before a run (1.32 marks none)
    missing_on = {}
    for node in workflow["nodes"]:
        for model in node.get("properties", {}).get("models", []):
            if model in missing:
                missing_on.setdefault(str(node["id"]), []).append(f"{model['directory']}/{model['name']}")
    problems = page.evaluate(GRAPH_PROBLEMS, {"nodes": len(workflow["nodes"]), "links": workflow["links"],
                                              "missing": missing_on})
    assert not problems, problems
    assert not ui.take_errors()
    ui.fit_view()
    ui.screenshot(artifacts / f"{stem}-loaded.jpg")
    if UPDATE_SCREENSHOTS:
        shutil.copyfile(artifacts / f"{stem}-loaded.jpg", REPO / "workflows" / f"{stem}.jpg")

    # --- make it small through the widgets, then check the UI's own prompt is small_job's
    shipped = api_prompt(page)
    needs_runnable(shipped)
    small = small_job(shipped, comfy_server)
    changes = []
    for nid, node in small.items():
        for name, value in node["inputs"].items():
            before = shipped[nid]["inputs"].get(name)
            if value != before:
                # a value the UI can type in; a linked input small_job sets to a value is unlinked first
                assert not isinstance(value, list), f"small_job relinks {nid}.{name}: the UI test cannot mirror it"
                changes.append([nid, name, value, isinstance(before, list)])
    assert changes, "small_job changed nothing: the run would be full size"
    assert not page.evaluate(SET_WIDGETS, changes), "widgets not found for some of small_job's changes"
    # small_job's models are installed: choosing them clears 1.48's missing-model errors, and nothing else is marked
    left = page.evaluate(ERRORS_LEFT)
    assert not left, f"the UI still reports errors with small_job's values set: {left}"
    assert api_prompt(page) == small

    # --- Run, as a user: the button in the action bar (1.48: a button of its own, test id queue-button, beside a menu
    # trigger also named Run; 1.32: the main button of a SplitButton whose root has that test id)
    run = page.locator('button[data-testid="queue-button"]')
    if not run.count():
        run = page.get_by_role("button", name="Run", exact=True).first
    with page.expect_request(lambda r: r.url.endswith("/api/prompt") and r.method == "POST") as request:
        run.click()
    sent = request.value.post_data_json
    assert sent["prompt"] == small
    assert sent["extra_data"]["extra_pnginfo"]["workflow"]["nodes"]  # the workflow travels along (embedded)
    answer = request.value.response().json()
    assert answer.get("node_errors") == {}, answer
    entry = comfy_server.wait(answer["prompt_id"])
    video_nodes = [n["id"] for n in workflow["nodes"] if n["type"] == "FramesToVideo"]
    assert video_nodes, "the workflow has no FramesToVideo node"
    files = [entry["outputs"][str(nid)]["images"][0]["filename"] for nid in video_nodes]
    page.wait_for_function(PREVIEW_SHOWN, arg=[video_nodes, files])
    assert not ui.take_errors()
    ui.fit_view()
    ui.screenshot(artifacts / f"{stem}-ran.jpg")


def test_template_browser_shows_every_workflow_with_its_thumbnail(ui):
    """Runs last: with T2VZ_UPDATE_SCREENSHOTS=1 the tests above have just written the thumbnails."""
    missing = [p.stem for p in WORKFLOWS if not p.with_suffix(".jpg").exists()]
    assert not missing, f"workflows without a screenshot/thumbnail: {missing}. {FIX_SCREENSHOTS}"
    dialog = ui.open_templates()
    cards = dialog.locator('[data-testid^="template-workflow-"]')
    cards.first.wait_for()
    listed = sorted(c.get_attribute("data-testid").removeprefix("template-workflow-") for c in cards.all())
    assert listed == sorted(p.stem for p in WORKFLOWS)
    for path in WORKFLOWS:
        image = shown_card(dialog, path.stem).locator("img").first
        assert image.evaluate("img => img.naturalWidth") == VIEWPORT["width"]  # our screenshot, not a stand-in
    page_errors = ui.take_errors()
    ui.close_templates()
    assert not page_errors
