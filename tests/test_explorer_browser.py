"""The ledger explorer's proof check, the dashboard and the public profile in headless
Chromium, against the app served live.

The checker (``/assets/ledger-verify.js``) runs in the browser's own WebCrypto: against
every RFC 6962 inclusion vector (happy paths verify, tampered ones fail), against a real
entry's live proof (verified, with the checkpoint's Ed25519 signature), and against the
same proof with one byte changed on its way to the page (FAILED). Screenshots at 360 px
and desktop width are kept in the test's folder.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import Signer, sign_note, split_note
from tests.browser import LiveSite, screenshots, sign_in
from tests.conftest import TESTDATA
from tests.pages_env import DISHONEST, GENERAL, Seeded, seed

pytestmark = pytest.mark.slow
VECTORS = sorted((TESTDATA / "rfc6962" / "inclusion").glob("**/*.json"))


@pytest.fixture(scope="module")
def seeded(module_live_site: LiveSite) -> Seeded:
    return seed(module_live_site.services)


@pytest.fixture
def live_site(module_live_site: LiveSite, seeded: Seeded) -> LiveSite:
    """One seeded site for the module: its tests change what the browser is sent (by
    routes of their own page), never the database."""
    return module_live_site


def _latest(site: LiveSite) -> Checkpoint:
    checkpoint = site.services.ledger.latest_checkpoint()
    assert checkpoint is not None
    text, _ = split_note(checkpoint.note)
    return Checkpoint.parse_body(text)


def _open_entry(page: Any, site: LiveSite, index: int) -> str:
    """The entry page's verdict once its script has checked the proof."""
    page.goto(f"{site.url}/officer/ledger/{index}?lang=en")
    # A locator, not wait_for_function: the page's CSP allows no eval, as it should.
    page.locator("#proof-check[data-result]").wait_for()
    return str(page.locator("#proof-check").inner_text())


def test_the_checker_agrees_with_every_rfc6962_inclusion_vector(
    live_site: LiveSite, seeded: Seeded, browser_page: Any
) -> None:
    page = browser_page
    sign_in(page, live_site, path="/officer/ledger/0")
    assert page.evaluate("window.isSecureContext")
    vectors = []
    for path in VECTORS:
        v = json.loads(path.read_text(encoding="utf-8"))
        # Indices may be 2^64 - 1: passed as text, read as BigInt.
        v["leafIdx"], v["treeSize"] = str(v["leafIdx"]), str(v["treeSize"])
        vectors.append({"name": path.relative_to(TESTDATA).as_posix(), **v})
    assert len(vectors) > 50
    results = page.evaluate(
        """async (vectors) => {
            const V = window.LedgerVerify;
            const bytes = (b) => V.fromBase64(b || "", "vector");
            const out = {};
            for (const v of vectors) {
                try {
                    await V.verifyInclusion(
                        v.leafIdx, v.treeSize, bytes(v.leafHash),
                        (v.proof || []).map(bytes), bytes(v.root));
                    out[v.name] = "ok";
                } catch (err) {
                    out[v.name] = "error: " + err.message;
                }
            }
            return out;
        }""",
        vectors,
    )
    wrong = [
        f"{v['name']}: {results[v['name']]}"
        for v in vectors
        if (results[v["name"]] == "ok") == bool(v["wantErr"])
    ]
    assert wrong == []
    assert sum(results[v["name"]] == "ok" for v in vectors) >= 5


def test_the_checker_verifies_signed_notes_as_the_c2sp_example_and_our_signer_do(
    live_site: LiveSite, seeded: Seeded, browser_page: Any
) -> None:
    page = browser_page
    sign_in(page, live_site, path="/officer/ledger/0")
    example = TESTDATA / "c2sp"
    notes = [
        (
            (example / "signed-note-example.note").read_text(encoding="utf-8"),
            (example / "signed-note-example.vkey").read_text(encoding="utf-8").strip(),
        )
    ]
    # Keys whose base64 holds a "+" (the field separator) and keys whose does not.
    signers = (Signer.generate(f"signer{n}.example/log") for n in range(200))
    with_plus = [s for s in signers if "+" in str(s.verifier).split("+", 2)[2]][:3]
    plain = [s for s in (Signer.generate(f"p{n}.example/log") for n in range(50))
             if "+" not in str(s.verifier).split("+", 2)[2]][:2]  # fmt: skip
    for signer in [*with_plus, *plain]:
        body = Checkpoint(signer.name, 7, bytes(range(32))).body()
        notes.append((sign_note(body, signer), str(signer.verifier)))
    assert len(notes) == 6
    results = page.evaluate(
        """async (notes) => {
            const V = window.LedgerVerify;
            const out = [];
            for (const [note, key] of notes) {
                const changed = note.replace(/^./, (c) => c === "A" ? "B" : "A");
                out.push([
                    await V.verifyCheckpointSignature(V.splitNote(note), key),
                    await V.verifyCheckpointSignature(V.splitNote(changed), key),
                ]);
            }
            return out;
        }""",
        notes,
    )
    assert results == [[True, False]] * len(notes)


def test_a_real_entry_verifies_against_the_signed_checkpoint(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    index = seeded.index["d1"]
    sign_in(page, live_site, path=f"/officer/ledger/{index}")
    checkpoint = _latest(live_site)
    verdict = _open_entry(page, live_site, index)
    root = base64.b64encode(checkpoint.root).decode()
    assert verdict.startswith(f"verified against checkpoint {checkpoint.size} (root {root})")
    # Debian's Chromium has Ed25519 in WebCrypto: the signature is checked too.
    assert "Ed25519 signature is valid" in verdict
    assert page.locator("#proof-check").get_attribute("class") == "verified"
    screenshots(page, tmp_path, "entry")
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways page
    # The first and the last entry of the tree too (a proof's shape changes at the edges).
    for edge in (0, checkpoint.size - 1):
        assert _open_entry(page, live_site, edge).startswith("verified against checkpoint")


def test_a_proof_changed_on_its_way_fails(
    live_site: LiveSite, seeded: Seeded, browser_page: Any
) -> None:
    page = browser_page
    index = seeded.index["general"]
    sign_in(page, live_site, path=f"/officer/ledger/{index}")
    assert _open_entry(page, live_site, index).startswith("verified")

    def flip_one_byte(route: Any) -> None:
        response = route.fetch()
        proof = response.json()
        first = bytearray(base64.b64decode(proof["audit_path"][0]))
        first[0] ^= 0x01
        proof["audit_path"][0] = base64.b64encode(bytes(first)).decode()
        route.fulfill(response=response, body=json.dumps(proof))

    page.route("**/v1/ledger/proof/inclusion?*", flip_one_byte)
    verdict = _open_entry(page, live_site, index)
    root = base64.b64encode(_latest(live_site).root).decode()
    assert verdict.startswith(f"FAILED: expected root {root} got ")
    assert page.locator("#proof-check").get_attribute("class") == "failed"
    page.unroute("**/v1/ledger/proof/inclusion?*")
    assert _open_entry(page, live_site, index).startswith("verified")


def test_a_tampered_checkpoint_or_entry_fails(
    live_site: LiveSite, seeded: Seeded, browser_page: Any
) -> None:
    page = browser_page
    index = seeded.index["poor1"]
    sign_in(page, live_site, path=f"/officer/ledger/{index}")
    _open_entry(page, live_site, index)
    # From the test, the page's own functions with a changed proof object, a changed
    # checkpoint and a changed entry; the unchanged ones verify.
    results = page.evaluate(
        """async (index) => {
            const V = window.LedgerVerify;
            const text = async (u) => (await fetch(u)).text();
            const note = await text("/checkpoint");
            const key = await text("/v1/ledger/key");
            const size = V.parseCheckpoint(note).size;
            const proof = JSON.parse(
                await text(`/v1/ledger/proof/inclusion?index=${index}&tree_size=${size}`));
            const entry = JSON.parse(await text(`/v1/ledger/entries/${index}`));
            const mine = {index: String(index), leaf_input: entry.leaf_input};
            const flip = (b64) => {
                const b = V.fromBase64(b64, "x"); b[5] ^= 0x80; return V.toBase64(b);
            };
            const lines = note.split("\\n");
            lines[2] = flip(lines[2]);
            const input = V.fromBase64(entry.leaf_input, "x"); input[10] ^= 0x20;
            return {
                plain: await V.checkEntry(mine, note, key, proof),
                path: await V.checkEntry(mine, note, key,
                    {...proof, audit_path: [flip(proof.audit_path[0]), ...proof.audit_path.slice(1)]}),
                shorter: await V.checkEntry(mine, note, key,
                    {...proof, audit_path: proof.audit_path.slice(1)}),
                root: await V.checkEntry(mine, lines.join("\\n"), key, proof),
                leaf: await V.checkEntry({...mine, leaf_input: V.toBase64(input)}, note, key,
                    {...proof, leaf_hash: undefined}),
            };
        }""",
        index,
    )
    assert results["plain"]["ok"] is True and results["plain"]["signature"] is True
    assert results["path"]["ok"] is False
    assert results["path"]["error"].startswith("expected root ")
    assert "proof is too short" in results["shorter"]["error"]
    assert "signature does not verify" in results["root"]["error"]
    assert results["leaf"]["ok"] is False
    assert results["leaf"]["error"].startswith("expected root ")


def test_the_dashboard_and_the_explorer_as_an_officer_sees_them(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, live_site, path="/officer/dashboard")
    assert page.url == live_site.url + "/officer/dashboard"
    charts = page.locator("svg[role=img]")
    assert charts.count() == 3
    # Each chart is drawn (a real size), with its bars and points.
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    assert page.locator("rect.bar").count() > 20
    assert page.locator("circle.point").count() > 0
    screenshots(page, tmp_path, "dashboard")
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # charts scale down
    page.goto(live_site.url + "/officer/ledger")
    size = _latest(live_site).size
    assert page.locator("tbody tr").first.locator("td").first.inner_text() == str(size - 1)
    page.click("a[rel=next]")
    assert "before=" in page.url
    screenshots(page, tmp_path, "ledger")


@pytest.mark.parametrize("who", [GENERAL, DISHONEST])
def test_the_public_profile_in_a_browser(
    live_site: LiveSite, seeded: Seeded, browser_page: Any, tmp_path: Path, who: str
) -> None:
    page = browser_page
    response = page.goto(f"{live_site.url}/v1/enterprises/{who}")
    assert response is not None and response.headers["content-type"].startswith("text/html")
    facts = json.loads(page.context.request.get(f"{live_site.url}/v1/enterprises/{who}").text())
    assert page.locator("h1").inner_text() == facts["name"]
    assert page.locator(".grade").inner_text() == facts["grade"]
    for v in facts["violations"]:
        assert page.locator(f'a[href="/v1/ledger/entries/{v["entry"]}"]').count() == 1
    shots = screenshots(page, tmp_path, f"profile-{facts['grade']}")
    # Nothing is wider than a phone's screen.
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.click("text=English")
    assert "Credit grade" in page.locator("main").inner_text()
    assert all(shot.stat().st_size > 10_000 for shot in shots)
