"""The "Your video" page (issue 23): AppTest of what it offers and refuses; a real browser uploads a clip and gets its
events and timelines from random-weight extractors (the page labels them as such)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import app_page
from test_browser import CHROMIUM, browser_page, streamlit_app

REPO = Path(__file__).resolve().parents[1]


def _real_checkpoint(root: Path) -> Path:
    """A paper-width HAN with random weights and no SynthLLP data record: what an imported official HAN looks like."""
    from avvp_core.checkpoints import save_checkpoint
    from avvp_core.models import create_model

    torch.manual_seed(0)
    save_checkpoint(root / "han-real", create_model("han"), {"name": "han-real", "recipe": "imported (test)",
                                                             "width": "paper", "gating": "fused", "data": None})
    return root


@pytest.mark.app
def test_page_offers_real_feature_checkpoints_and_refuses_synthllp_ones(tiny_data, tiny_han, tmp_path, monkeypatch):
    monkeypatch.setenv("AVVP_RANDOM_EXTRACTORS", "tiny")
    at = app_page("your_video", tiny_data, [tiny_han, _real_checkpoint(tmp_path / "runs")])
    assert not at.exception
    assert at.title[0].value == "Your video"
    assert "Test mode" in at.warning[0].value and "RANDOM-WEIGHT" in at.warning[0].value
    assert at.expander[0].label == "1 checkpoint(s) not offered: trained on SynthLLP"
    assert any("trained on SynthLLP" in c.value for c in at.caption)
    assert at.multiselect(key="your_video_checkpoints").options == ["HAN + imported (test) · han-real"]
    assert at.multiselect(key="your_video_checkpoints").value == ["HAN + imported (test) · han-real"]
    assert any(c.value == "Choose a clip and at least one checkpoint." for c in at.caption)


@pytest.mark.app
def test_page_without_real_feature_checkpoints_says_what_to_do(tiny_data, tiny_han, monkeypatch):
    monkeypatch.setenv("AVVP_RANDOM_EXTRACTORS", "tiny")
    at = app_page("your_video", tiny_data, [tiny_han])
    assert not at.exception
    assert "convert --from official-han" in at.info[0].value
    assert not at.get("file_uploader")


@pytest.mark.app
def test_page_without_real_feature_checkpoints_asks_for_no_download(tiny_data, tiny_han, tmp_path, monkeypatch):
    """Weights missing and nothing to read their features: the checkpoint notice, not a 500 MB download first."""
    monkeypatch.delenv("AVVP_RANDOM_EXTRACTORS", raising=False)
    monkeypatch.setenv("AVVP_EXTRACTOR_DIR", str(tmp_path / "weights"))
    at = app_page("your_video", tiny_data, [tiny_han])
    assert not at.exception and [i.value for i in at.info][-1].startswith("No checkpoint trained on real LLP")
    assert not [b for b in at.button if b.key == "your_video_download"]
    assert not any(c.value.startswith("extractor weights") for c in at.caption)


@pytest.mark.app
def test_page_names_missing_weights_in_one_line_each(tiny_data, tmp_path, monkeypatch):
    monkeypatch.delenv("AVVP_RANDOM_EXTRACTORS", raising=False)
    monkeypatch.setenv("AVVP_EXTRACTOR_DIR", str(tmp_path / "weights"))
    at = app_page("your_video", tiny_data, [_real_checkpoint(tmp_path / "runs")])
    assert not at.exception and not at.warning
    lines = [c.value for c in at.caption if c.value.startswith("extractor weights")]
    assert [line.split()[2] for line in lines] == ["resnet152-394f9c45.pth", "r2plus1d_18-91a641e6.pth",
                                                   "vggish-10086976.pth"]
    assert all(str(tmp_path / "weights") in line and "sha256 starts with" in line for line in lines)
    assert at.button(key="your_video_download").label == "Download the extractor weights"
    at.radio(key="your_video_vggish").set_value("postprocessed").run()  # the PCA file is needed too
    lines = [c.value for c in at.caption if c.value.startswith("extractor weights")]
    assert len(lines) == 4 and "vggish_pca_params-970ea276.pth" in lines[-1]


@pytest.mark.app
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
def test_upload_a_clip_in_a_real_browser(tiny_data, tmp_path):
    pytest.importorskip("playwright")
    runs = _real_checkpoint(tmp_path / "runs")
    clip = tmp_path / "my dog.mp4"
    shutil.copy(sorted((REPO / "assets" / "demo").glob("*.mp4"))[0], clip)
    env = {"AVVP_DEFAULT_DATA": str(tiny_data), "AVVP_RUNS_DIR": str(runs),
           "AVVP_RANDOM_EXTRACTORS": "tiny", "AVVP_CACHE_DIR": str(tmp_path / "cache")}
    with streamlit_app(env) as url:
        with browser_page(tmp_path, 1300, 2400) as (page, errors, shots):
            page.goto(f"{url}/your_video")
            page.get_by_role("heading", name="Your video").wait_for(timeout=60_000)
            page.get_by_text("Test mode").wait_for(timeout=30_000)
            page.locator('input[type="file"]').set_input_files(str(clip))
            page.get_by_role("heading", name="Events").wait_for(timeout=180_000)
            page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
            assert page.get_by_text("audible:").count() >= 1 and page.get_by_text("han-real").count() >= 1
            # the synchronised player of the Timelines page: a click on a cell seeks the clip into that segment
            player = page.frame_locator('iframe[title*="avvp_synced_player"]')
            player.locator("td.cell").first.wait_for(timeout=60_000)
            video = player.locator("video")
            video.evaluate("v => v.readyState >= 1 || new Promise(r => v.addEventListener('loadedmetadata', "
                           "() => r(true), {once: true}))")
            player.locator('td.cell[data-seg="4"]').first.click()
            page.wait_for_timeout(300)
            assert abs(video.evaluate("v => v.currentTime") - 4.05) < 0.2
            assert player.locator("body").get_attribute("data-segment") == "4"
            assert page.get_by_text("Traceback").count() == 0
            page.screenshot(path=str(shots / "your_video.png"), full_page=True)
        assert not errors, errors
